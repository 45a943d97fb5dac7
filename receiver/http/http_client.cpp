#include "http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "net/listen_address.hpp"

namespace lastgasp::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

constexpr std::uint64_t kMaxReply = 64u << 20;  // /api/hosts for a large fleet

asio::ip::tcp::endpoint reachable(const std::string& address) {
  net::ListenAddress listen = net::parse_listen_address(address);
  if (listen.address.is_unspecified())
    listen.address = listen.address.is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                                            : asio::ip::address(asio::ip::address_v4::loopback());
  return {listen.address, listen.port};
}

}  // namespace

// Asynchronous operations on one io_context run to the deadline: Beast's tcp_stream bounds
// each of them, which its blocking calls would not.
std::optional<Fetched> http_get(const std::string& address, const std::string& target, const std::string& token,
                                std::chrono::milliseconds timeout, boost::system::error_code& error) {
  asio::io_context io(1);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> request{bhttp::verb::get, target, 11};
  request.set(bhttp::field::host, address);
  request.set(bhttp::field::connection, "close");
  if (!token.empty()) request.set(bhttp::field::authorization, "Bearer " + token);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxReply);
  std::optional<Fetched> fetched;
  try {
    stream.expires_after(timeout);
    stream.async_connect(reachable(address), [&](beast::error_code ec) {
      if (ec) return void(error = ec);
      bhttp::async_write(stream, request, [&](beast::error_code ec, std::size_t) {
        if (ec) return void(error = ec);
        bhttp::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
          if (ec) return void(error = ec);
          fetched = Fetched{parser.get().result_int(), std::move(parser.get().body())};
        });
      });
    });
    io.run();
  } catch (const std::invalid_argument&) {
    error = asio::error::invalid_argument;
  }
  return fetched;
}

}  // namespace lastgasp::http
