// What every TCP listener of the daemon does alike (the upload endpoint, the
// HTTP server): open or adopt a listening socket, accept for as long as it is
// open (pausing while out of descriptors), keep a weak hold on each session so
// that closing reaches them all, and turn a surplus connection away without
// waiting for it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lastgasp::net {

// A session an AcceptLoop made, which owns its lifetime through its handlers.
class Session {
 public:
  virtual ~Session() = default;
  virtual void close() = 0;
};

class AcceptLoop {
 public:
  // Makes a session of a connection, started, or turns it away (nullptr).
  using Admit = std::function<std::shared_ptr<Session>(boost::asio::ip::tcp::socket)>;

  explicit AcceptLoop(boost::asio::io_context& io) : acceptor_(io), pause_(io) {}
  // Listens on ADDRESS ("[::]:6666", dual-stack for "[::]"); throws std::system_error naming
  // ADDRESS and WHAT, or std::invalid_argument.
  void listen(const std::string& address, const std::string& what);
  // Takes the listening socket FD (from systemd), of whichever family it is.
  void adopt(int fd);

  // Accepts until closed; ON_PAUSE is told each time accepting waits for descriptors.
  void start(Admit admit, std::function<void()> on_pause = {});
  // Stops accepting and closes every open session.
  void close();
  // "WHAT ADDR:PORT".
  std::string name(const std::string& what) const;
  bool on_loopback() const;
  // Sessions still open.
  unsigned sessions();

 private:
  void accept();
  void pause();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_;
  Admit admit_;
  std::function<void()> on_pause_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

// Answers a connection that gets no session with BYTES, if the socket takes them
// at once, and closes it: it never waits for the peer, so it holds nothing.
void turn_away(boost::asio::ip::tcp::socket& socket, std::string_view bytes);

}  // namespace lastgasp::net
