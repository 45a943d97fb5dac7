#include "accepting.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>
#include <system_error>

#include "endpoint.hpp"
#include "listen_address.hpp"

namespace lastgasp::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Out of file descriptors (or kernel memory), accept fails at once for as long
// as it lasts: retrying at once would spin the event loop.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

bool out_of_descriptors(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

}  // namespace

void AcceptLoop::listen(const std::string& address, const std::string& what) {
  ListenAddress listen = parse_listen_address(address);
  tcp::endpoint endpoint{listen.address, listen.port};
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false));
  boost::system::error_code ec;
  acceptor_.bind(endpoint, ec);
  if (ec) throw std::system_error(ec.value(), std::generic_category(), "cannot listen on " + what + " " + address);
  acceptor_.listen();
}

void AcceptLoop::adopt(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  acceptor_.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd);
}

std::string AcceptLoop::name(const std::string& what) const {
  boost::system::error_code ec;
  auto local = acceptor_.local_endpoint(ec);
  return what + " " + config::format_host_port(local.address().to_string(), local.port());
}

bool AcceptLoop::on_loopback() const {
  boost::system::error_code ec;
  auto local = acceptor_.local_endpoint(ec);
  return !ec && local.address().is_loopback();
}

unsigned AcceptLoop::sessions() {
  std::erase_if(sessions_, [](const std::weak_ptr<Session>& s) { return s.expired(); });
  return static_cast<unsigned>(sessions_.size());
}

void AcceptLoop::start(Admit admit, std::function<void()> on_pause) {
  admit_ = std::move(admit);
  on_pause_ = std::move(on_pause);
  accept();
}

void AcceptLoop::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  pause_.cancel();
  for (const auto& weak : sessions_)
    if (auto session = weak.lock()) session->close();
  sessions_.clear();
}

void AcceptLoop::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (out_of_descriptors(ec)) return pause();
    if (!ec) {
      sessions();  // forgets the ended ones
      if (auto session = admit_(std::move(socket))) sessions_.push_back(session);
    }
    accept();
  });
}

void AcceptLoop::pause() {
  if (on_pause_) on_pause_();
  pause_.expires_after(kAcceptPause);
  pause_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) accept();
  });
}

void turn_away(tcp::socket& socket, std::string_view bytes) {
  [[maybe_unused]] ssize_t sent = ::send(socket.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ignored;
  socket.close(ignored);
}

}  // namespace lastgasp::net
