#include "udp_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "endpoint.hpp"
#include "fd.hpp"
#include "listen_address.hpp"
#include "notice.hpp"
#include "steering.hpp"

namespace lastgasp::net {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

constexpr std::size_t kControlSize = CMSG_SPACE(sizeof(std::uint32_t));

// ERROR is the failed call's errno, taken at once: building WHAT may change errno.
[[noreturn]] void fail(int error, const std::string& what) { throw std::system_error(error, std::generic_category(), what); }

std::string endpoint_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "fd " + std::to_string(fd);
  char host[INET6_ADDRSTRLEN] = "?";
  std::uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
  }
  return "udp " + config::format_host_port(host, port);
}

int open_socket(int family) {
  int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail(errno, "socket");
  if (family == AF_INET6) {
    int off = 0;  // "[::]" takes IPv4 too
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  return fd;
}

// Binds FD, or closes it and throws: the reason, and on EADDRINUSE who may hold the port.
void bind_or_fail(Fd& fd, const udp::endpoint& endpoint) {
  if (::bind(fd.get(), endpoint.data(), static_cast<socklen_t>(endpoint.size())) == 0) return;
  int error = errno;
  fd.reset(-1);
  std::string message = "cannot listen on " +
                        config::format_host_port(endpoint.address().to_string(), endpoint.port()) + ": " +
                        std::strerror(error);
  if (error == EADDRINUSE)
    message += " (held by lastgasp-receiver.socket, a receiver already running, rsyslog or netconsd? "
               "'ss -ulpn sport = :" + std::to_string(endpoint.port()) + "' names it)";
  throw std::runtime_error(message);
}

// Binds a socket without SO_REUSEPORT for a moment: it fails, as a second receiver should, when
// the port is taken. A group would otherwise take the second receiver in and share the traffic.
void refuse_if_taken(const udp::endpoint& endpoint) {
  Fd fd(open_socket(endpoint.address().is_v6() ? AF_INET6 : AF_INET));
  bind_or_fail(fd, endpoint);
}

}  // namespace

std::vector<int> open_receive_group(const std::string& address, unsigned count) {
  udp::endpoint endpoint = parse_endpoint<udp::endpoint>(address);
  refuse_if_taken(endpoint);
  std::vector<int> fds;
  try {
    for (unsigned i = 0; i < count; ++i) {
      Fd fd(open_socket(endpoint.address().is_v6() ? AF_INET6 : AF_INET));
      int on = 1;
      if (count > 1 && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) fail(errno, "SO_REUSEPORT");
      bind_or_fail(fd, endpoint);
      fds.push_back(fd.release());
    }
  } catch (...) {
    for (int fd : fds) ::close(fd);
    throw;
  }
  if (count > 1)
    if (int error = attach_steering(fds.front(), count))
      notice(Severity::warning, "udp " + address + ": the kernel refused the steering program (" +
                                    std::strerror(error) + "); datagrams that reach the wrong thread are handed on");
  return fds;
}

UdpListener::UdpListener(asio::io_context& io, int fd, std::uint64_t receive_buffer, DatagramHandler& handler)
    : UdpListener(io, fd, std::optional(receive_buffer), handler) {}

UdpListener::UdpListener(asio::io_context& io, int fd, DatagramHandler& handler)
    : UdpListener(io, fd, std::nullopt, handler) {}

UdpListener::UdpListener(asio::io_context& io, int fd, std::optional<std::uint64_t> receive_buffer,
                         DatagramHandler& handler)
    : socket_(io), handler_(handler), name_(endpoint_name(fd)) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  socket_.assign(ss.ss_family == AF_INET6 ? udp::v6() : udp::v4(), fd);
  socket_.non_blocking(true);
  if (receive_buffer) enlarge_buffer(fd, *receive_buffer);
  int got = 0;
  len = sizeof got;
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
  granted_buffer_ = static_cast<std::uint64_t>(got) / 2;  // the kernel reports double, for its bookkeeping
  count_drops(fd);
  buffers_.resize(std::size_t{kBatch} * kSlot);
  messages_.resize(kBatch);
  iovecs_.resize(kBatch);
  sources_.resize(kBatch);
  control_.resize(std::size_t{kBatch} * kControlSize);
}

void UdpListener::enlarge_buffer(int fd, std::uint64_t receive_buffer) {
  int want = static_cast<int>(std::min<std::uint64_t>(receive_buffer, INT32_MAX / 2));
  // SO_RCVBUFFORCE passes net.core.rmem_max when we may; otherwise take what SO_RCVBUF gives.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  int got = 0;
  socklen_t len = sizeof got;
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
  if (got / 2 < want)
    notice(Severity::warning, name_ + ": receive buffer is " + std::to_string(got / 2) + " bytes, not the " +
                                  std::to_string(want) +
                                  " asked for (run as root, or raise net.core.rmem_max); carrying on");
}

void UdpListener::count_drops(int fd) {
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on) != 0)
    notice(Severity::warning, name_ + ": cannot count kernel drops (SO_RXQ_OVFL): " + std::strerror(errno));
}

void UdpListener::start() { wait(); }

void UdpListener::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void UdpListener::wait() {
  socket_.async_wait(udp::socket::wait_read, [this](const boost::system::error_code& ec) {
    if (!ec) take();  // else closed
  });
}

// Takes what is there; if anything was, looks again after kGather, else when readable.
// The pause is a sleep, not a timer: Asio registers the socket with epoll once, edge-triggered,
// so while a timer ran each datagram's arrival still woke the thread, for nothing: 275,000
// context switches in 8 s at 100,000 records/s, 6,500 with the sleep (bench/threads-profile);
// a wakeup costs more here than a datagram. What else the thread has to do waits a millisecond at most.
// With every round full, more is waiting: no pause then.
void UdpListener::take() {
  if (!socket_.is_open()) return;
  unsigned taken = receive();
  if (taken == 0) return wait();
  if (taken < kRoundsPerWakeup * kBatch) std::this_thread::sleep_for(kGather);
  asio::post(socket_.get_executor(), [this] { take(); });
}

unsigned UdpListener::receive() {
  int fd = socket_.native_handle();
  unsigned taken = 0;
  for (unsigned round = 0; round < kRoundsPerWakeup; ++round) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iovecs_[i] = {buffers_.data() + std::size_t{i} * kSlot, kSlot};
      msghdr& h = messages_[i].msg_hdr;
      h.msg_name = &sources_[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &iovecs_[i];
      h.msg_iovlen = 1;
      h.msg_control = control_.data() + std::size_t{i} * kControlSize;
      h.msg_controllen = kControlSize;
      h.msg_flags = 0;
    }
    int n = ::recvmmsg(fd, messages_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        notice(Severity::warning, name_ + ": recvmmsg: " + std::strerror(errno));
      return taken;
    }
    taken += static_cast<unsigned>(n);
    wire::Instant now{std::chrono::steady_clock::now(), std::chrono::system_clock::now()};
    for (int i = 0; i < n; ++i) {
      const msghdr& h = messages_[i].msg_hdr;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
        std::uint32_t drops;
        std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
        counters_.kernel_drops += static_cast<std::uint32_t>(drops - last_drop_count_);  // cumulative, wraps
        last_drop_count_ = drops;
      }
      ++counters_.datagrams;
      handler_.on_datagram(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen,
                           std::string_view(static_cast<const char*>(h.msg_iov->iov_base), messages_[i].msg_len), now);
    }
    handler_.on_batch_end();
    if (static_cast<unsigned>(n) < kBatch) return taken;
  }
  return taken;
}

}  // namespace lastgasp::net
