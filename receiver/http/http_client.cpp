#include "http_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <stdexcept>
#include <type_traits>

#include "net/listen_address.hpp"

namespace lastgasp::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::uint64_t kMaxReply = 64u << 20;  // /api/hosts for a large fleet

asio::ip::tcp::endpoint reachable(const std::string& address) {
  net::ListenAddress listen = net::parse_listen_address(address);
  if (listen.address.is_unspecified())
    listen.address = listen.address.is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                                            : asio::ip::address(asio::ip::address_v4::loopback());
  return {listen.address, listen.port};
}

asio::ssl::context trusting(const ServerTrust& trust) {
  asio::ssl::context context = net::client_context(trust.file);
  // The file itself is the trust anchor, even when a CA signed it.
  if (trust.pinned) X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
  return context;
}

struct Exchange {
  bhttp::request<bhttp::empty_body> request;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  Asked asked;
};

template <class Stream>
void exchange(Stream& stream, Exchange& x) {
  bhttp::async_write(stream, x.request, [&](beast::error_code ec, std::size_t) {
    if (ec) return void(x.asked.error = ec);
    bhttp::async_read(stream, x.buffer, x.parser, [&](beast::error_code ec, std::size_t) {
      if (ec) return void(x.asked.error = ec);
      x.asked.fetched = Fetched{x.parser.get().result_int(), std::move(x.parser.get().body())};
    });
  });
}

// Connects (and shakes hands) within TIMEOUT, then asks: Beast's tcp_stream bounds each
// asynchronous operation on it, which its blocking calls would not.
template <class Stream>
void get(Stream& stream, const asio::ip::tcp::endpoint& to, std::chrono::milliseconds timeout, Exchange& x,
         const std::optional<ServerTrust>& trust) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::get_lowest_layer(stream).async_connect(to, [&](beast::error_code ec) {
    if (ec) return void(x.asked.error = ec);
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code ec) {
        if (!ec) return exchange(stream, x);
        x.asked.error = ec;
        long verified = SSL_get_verify_result(stream.native_handle());
        if (verified != X509_V_OK)
          x.asked.untrusted = "its certificate did not verify against " + trust->file.key + " " +
                              trust->file.path.string() + " (" + X509_verify_cert_error_string(verified) + ")";
      });
    } else {
      exchange(stream, x);
    }
  });
}

}  // namespace

Asked http_get(const std::string& address, const std::string& target, const std::string& token,
               std::chrono::milliseconds timeout, const std::optional<ServerTrust>& trust) {
  asio::io_context io(1);
  Exchange x{{bhttp::verb::get, target, 11}, {}, {}, {}};
  x.request.set(bhttp::field::host, address);
  x.request.set(bhttp::field::connection, "close");
  if (!token.empty()) x.request.set(bhttp::field::authorization, "Bearer " + token);
  x.parser.body_limit(kMaxReply);
  try {
    asio::ip::tcp::endpoint to = reachable(address);
    if (!trust) {
      beast::tcp_stream stream(io);
      get(stream, to, timeout, x, trust);
      io.run();
    } else {
      asio::ssl::context context = trusting(*trust);
      TlsStream stream(io, context);
      get(stream, to, timeout, x, trust);
      io.run();
    }
  } catch (const std::invalid_argument&) {
    x.asked.error = asio::error::invalid_argument;
  } catch (const std::runtime_error& e) {  // the trusted file: it cannot be read
    x.asked.untrusted = std::string("cannot check its certificate: ") + e.what();
  }
  return std::move(x.asked);
}

}  // namespace lastgasp::http
