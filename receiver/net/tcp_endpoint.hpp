// The TCP side of a listen address (docs/protocol.md): pstore uploads from
// `lastgasp-setup collect` and canary checks from `lastgasp-setup verify`.
// One acceptor per address; one session object per connection that owns its
// own lifetime through its handlers, as in Asio's examples.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "hosts/sender_address.hpp"
#include "sinks/pstore_store.hpp"

namespace lastgasp::net {

class TcpHandler {
 public:
  virtual ~TcpHandler() = default;
  virtual bool allows(const hosts::SenderAddress& peer) const = 0;
  // Files an upload (checksum already checked) and returns the response line.
  virtual std::string on_pstore(const hosts::SenderAddress& peer, sinks::PstoreRecord record) = 0;
  // Calls REPLY with the response line when TOKEN has arrived from PEER, or when WAIT has passed.
  virtual void on_verify(const hosts::SenderAddress& peer, const std::string& token, std::chrono::milliseconds wait,
                         std::function<void(std::string)> reply) = 0;
};

struct TcpLimits {
  std::uint64_t max_upload = 4u << 20;
  unsigned max_sessions = 64;
  unsigned max_requests = 256;
  std::chrono::seconds idle{30};
};

class TcpEndpoint {
 public:
  // Opens ADDRESS ("[::]:6666"); throws std::system_error or std::invalid_argument.
  TcpEndpoint(boost::asio::io_context& io, const std::string& address, TcpHandler& handler, TcpLimits limits);
  // Adopts a listening socket from systemd.
  TcpEndpoint(boost::asio::io_context& io, int fd, TcpHandler& handler, TcpLimits limits);

  void start();
  void close();
  std::string name() const;

 private:
  void accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  TcpHandler& handler_;
  TcpLimits limits_;
  std::shared_ptr<unsigned> sessions_ = std::make_shared<unsigned>(0);
};

// One request header, parsed: "LASTGASP/1 VERB key=value ...", values percent-decoded.
struct Request {
  std::string verb;
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* get(std::string_view key) const;
};
std::optional<Request> parse_request(std::string_view line);
std::string sha256_hex(const std::string& bytes);

}  // namespace lastgasp::net
