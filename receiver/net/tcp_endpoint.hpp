// The TCP side of a listen address (docs/protocol.md): pstore uploads from
// `lastgasp-setup collect` and canary checks from `lastgasp-setup verify`.
// One acceptor per address; one session object per connection that owns its
// own lifetime through its handlers, as in Asio's examples, and that the
// endpoint can still reach (through a weak_ptr) to close it on SIGTERM.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "accepting.hpp"
#include "hosts/sender_address.hpp"
#include "tcp_protocol.hpp"

namespace lastgasp::net {

struct TcpCounters {
  std::uint64_t refused = 0;          // connections from outside the allow list
  std::uint64_t busy = 0;             // connections with no session slot left (in all, or for their address)
  std::uint64_t accept_pauses = 0;    // accepts put off for want of file descriptors
};

// What every TCP endpoint of one daemon shares: the session slots, in all and
// per peer address, and the memory uploads may hold.
class TcpBudget {
 public:
  explicit TcpBudget(const TcpLimits& limits) : limits(limits), upload_memory{limits.upload_memory} {}
  // Takes a session slot for PEER, or says there is none.
  bool take_slot(const hosts::SenderAddress& peer);
  void give_slot(const hosts::SenderAddress& peer);
  // "N refused, N busy, ...", for the daemon's status line.
  std::string summary() const;
  unsigned sessions() const { return sessions_; }

  const TcpLimits limits;
  UploadMemory upload_memory;
  TcpCounters counters;

 private:
  unsigned sessions_ = 0;
  std::unordered_map<std::array<std::uint8_t, 16>, unsigned, hosts::HostKeyHash> per_address_;
};

class TcpSession;

class TcpEndpoint {
 public:
  // Opens ADDRESS ("[::]:6666"); throws std::system_error or std::invalid_argument.
  TcpEndpoint(boost::asio::io_context& io, const std::string& address, TcpHandler& handler,
              std::shared_ptr<TcpBudget> budget);
  // Adopts a listening socket from systemd.
  TcpEndpoint(boost::asio::io_context& io, int fd, TcpHandler& handler, std::shared_ptr<TcpBudget> budget);

  void start();
  // Stops accepting and closes every open session.
  void close();
  std::string name() const;

 private:
  std::shared_ptr<Session> admit(boost::asio::ip::tcp::socket socket);

  AcceptLoop loop_;
  TcpHandler& handler_;
  std::shared_ptr<TcpBudget> budget_;
};

}  // namespace lastgasp::net
