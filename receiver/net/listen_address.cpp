#include "listen_address.hpp"

#include <stdexcept>

#include "endpoint.hpp"

namespace lastgasp::net {

ListenAddress parse_listen_address(const std::string& text) {
  std::string error;
  auto hp = config::parse_host_port(text, std::nullopt, error);
  if (!hp) throw std::invalid_argument(error);
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(hp->host, ec);
  if (ec) throw std::invalid_argument("'" + text + "': not a numeric address");
  return {address, hp->port};
}

}  // namespace lastgasp::net
