#include "accepting.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>
#include <system_error>

#include "listen_address.hpp"

namespace lastgasp::net {

namespace asio = boost::asio;
using asio::ip::tcp;

bool out_of_descriptors(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

void listen_on(tcp::acceptor& acceptor, const std::string& address, const std::string& what) {
  ListenAddress listen = parse_listen_address(address);
  tcp::endpoint endpoint{listen.address, listen.port};
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  if (endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(false));
  boost::system::error_code ec;
  acceptor.bind(endpoint, ec);
  if (ec) throw std::system_error(ec.value(), std::generic_category(), "cannot listen on " + what + " " + address);
  acceptor.listen();
}

void turn_away(tcp::socket& socket, std::string_view bytes) {
  [[maybe_unused]] ssize_t sent = ::send(socket.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ignored;
  socket.close(ignored);
}

}  // namespace lastgasp::net
