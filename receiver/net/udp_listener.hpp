// One UDP socket that netconsole senders write to. Asio tells us when it is
// readable; we then take datagrams in batches with recvmmsg (Asio has no
// batched receive), and read the kernel's drop counter (SO_RXQ_OVFL) from each.
//
// Once datagrams flow, we look again only after a millisecond, not at each
// one: a wakeup costs more than the datagram, and at 100,000 a second this
// takes them a hundred at a time. The socket's buffer holds seconds of it; a
// record waits a millisecond more at most.
#pragma once

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wire/record.hpp"

namespace lastgasp::net {

class DatagramHandler {
 public:
  virtual ~DatagramHandler() = default;
  virtual void on_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                           const wire::Instant& now) = 0;
  // After each batch: what the batch produced can be handed on in one piece.
  virtual void on_batch_end() {}
};

struct ListenerCounters {
  std::uint64_t datagrams = 0;
  std::uint64_t kernel_drops = 0;  // datagrams the kernel dropped because our buffer was full
};

// Opens COUNT sockets bound to ADDRESS ("[::]:6666", "127.0.0.1:7000") in one SO_REUSEPORT
// group steered by source address (steering.hpp), one per receive thread, in thread order.
// A second receiver on the same port is refused as it would be without SO_REUSEPORT. Throws
// std::system_error.
std::vector<int> open_receive_group(const std::string& address, unsigned count);

class UdpListener {
 public:
  // Takes FD, a socket we opened, and asks for RECEIVE_BUFFER.
  UdpListener(boost::asio::io_context& io, int fd, std::uint64_t receive_buffer, DatagramHandler& handler);
  // Adopts a socket systemd bound (socket activation). Its receive buffer is systemd's
  // ReceiveBuffer=, set with privileges we lack: it is reported, never changed.
  UdpListener(boost::asio::io_context& io, int fd, DatagramHandler& handler);

  void start();
  void close();
  const ListenerCounters& counters() const { return counters_; }
  const std::string& name() const { return name_; }
  std::uint64_t receive_buffer() const { return granted_buffer_; }

 private:
  static constexpr unsigned kBatch = 64;
  static constexpr std::size_t kSlot = 65536;  // the largest UDP payload fits: never truncated
  static constexpr unsigned kRoundsPerWakeup = 16;  // then let timers run
  static constexpr std::chrono::milliseconds kGather{1};

  UdpListener(boost::asio::io_context& io, int fd, std::optional<std::uint64_t> receive_buffer,
              DatagramHandler& handler);
  void enlarge_buffer(int fd, std::uint64_t receive_buffer);
  void count_drops(int fd);
  void wait();
  void take();
  unsigned receive();

  boost::asio::ip::udp::socket socket_;
  DatagramHandler& handler_;
  std::string name_;
  std::uint64_t granted_buffer_ = 0;
  std::vector<char> buffers_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_storage> sources_;
  std::vector<char> control_;
  ListenerCounters counters_;
  std::uint32_t last_drop_count_ = 0;
};

}  // namespace lastgasp::net
