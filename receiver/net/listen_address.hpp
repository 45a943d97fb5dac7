// A listen address from the config or --listen ("[::]:6666", "127.0.0.1:7000"), for Asio.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>

namespace lastgasp::net {

struct ListenAddress {
  boost::asio::ip::address address;
  std::uint16_t port = 0;
};

// Throws std::invalid_argument naming TEXT when it is not a numeric ADDR:PORT.
ListenAddress parse_listen_address(const std::string& text);

// The same, as an Asio endpoint (udp::endpoint, tcp::endpoint).
template <class Endpoint>
Endpoint parse_endpoint(const std::string& text) {
  ListenAddress listen = parse_listen_address(text);
  return {listen.address, listen.port};
}

}  // namespace lastgasp::net
