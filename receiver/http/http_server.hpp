// The receiver's read-only HTTP side (/metrics, /api/hosts, /api/stream, /), on the daemon's
// main event loop. Built as Beast's own async server examples are: a listener
// that accepts, and one session per connection that owns its lifetime through
// its handlers, reachable through a weak_ptr so the server can close it on
// SIGTERM. Everything a peer can make it hold is bounded: connections, header
// bytes, no body at all, and a deadline on every read and write (over TLS the
// handshake's too); a request never reaches the receive threads or the writer
// except as a posted question.
//
// The server knows methods, tokens and limits; which paths exist, and what
// they say, is the Routes' (the daemon's) business.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/accepting.hpp"

namespace lastgasp::http {

// An open text/event-stream reply, on the server's thread. Its queue is bounded: a client that
// does not read is let go, never waited for.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues BYTES; false, queuing nothing, when they would pass the queue's bound (an empty queue
  // takes them whatever their size, so that one large event cannot stall a stream).
  virtual bool send(std::string_view bytes) = 0;
  // Drops what is queued, sends BYTES (past the bound) and closes: the last word to a client
  // let go.
  virtual void finish(std::string_view bytes) = 0;
  virtual bool is_open() const = 0;
  // CALLBACK runs each time a write has completed and the queue has room again: a sender that
  // found it full goes on from there.
  virtual void on_room(std::function<void()> callback) = 0;
};

struct Reply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Set, a 200 stays open as text/event-stream: BODY goes first, then this is handed the stream.
  std::function<void(std::shared_ptr<EventStream>)> stream = {};
};

struct Request {
  std::string_view path;
  std::string_view query;          // the text after '?', maybe empty
  std::string_view last_event_id;  // the Last-Event-ID header of a reconnecting EventSource
};

class Routes {
 public:
  virtual ~Routes() = default;
  // Answers a GET (or HEAD) of REQUEST through REPLY, on the server's thread, now or later.
  virtual void on_get(const Request& request, std::function<void(Reply)> reply) = 0;
};

struct HttpLimits {
  unsigned max_connections = 32;
  std::uint32_t header_bytes = 8192;
  // To read a request (all of it: a peer trickling bytes gets no longer), to write a reply,
  // and to wait for the next request on a kept-alive connection.
  std::chrono::milliseconds timeout{10'000};
  // For the answer to a request (the writer may be stuck on a hung disk): then 503.
  std::chrono::milliseconds answer_timeout{5'000};
  // What an event stream may have queued beyond what is being written, and the kernel's send
  // buffer under it (fixed, so that the bound means what it says).
  std::size_t stream_queue_bytes = 256u << 10;
  int stream_send_buffer = 64 << 10;
};

struct HttpCounters {
  std::uint64_t requests = 0;
  std::uint64_t busy = 0;          // connections turned away at max_connections
  std::uint64_t unauthorized = 0;  // requests without the right token
  std::uint64_t bad = 0;           // requests that did not parse, were over the header limit, or failed TLS
};

// A SHA-256 of the token, compared in constant time.
class Token {
 public:
  Token() = default;
  explicit Token(std::string_view secret);
  bool required() const { return required_; }
  // Whether AUTHORIZATION (an Authorization header) is "Bearer <the token>".
  bool accepts(std::string_view authorization) const;

 private:
  bool required_ = false;
  std::array<unsigned char, 32> digest_{};
};

// The whole number KEY has in QUERY ("a=1&b=2"), if it has one.
std::optional<long> query_number(std::string_view query, std::string_view key);
// Every value KEY has in QUERY, percent-decoded ('+' is a space); nullopt when one is not
// well-formed percent-encoding.
std::optional<std::vector<std::string>> query_values(std::string_view query, std::string_view key);

class HttpServer {
 public:
  // Opens ADDRESS ("127.0.0.1:9666"); throws std::system_error or std::invalid_argument.
  HttpServer(boost::asio::io_context& io, const std::string& address, Routes& routes, HttpLimits limits = {});
  // Adopts a listening socket from systemd.
  HttpServer(boost::asio::io_context& io, int fd, Routes& routes, HttpLimits limits = {});
  // Whether it listens on loopback only, where a token may be left out.
  bool on_loopback() const { return loop_.on_loopback(); }
  // Accepts connections, each request asked for TOKEN; with TLS (net::server_context), HTTPS
  // only: a handshake first, under the deadline of a request's read.
  void start(Token token, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  // Stops accepting and closes every open connection.
  void close();
  std::string name() const { return loop_.name("http"); }
  const HttpCounters& counters() const { return *counters_; }
  unsigned connections() { return loop_.sessions(); }

 private:
  std::shared_ptr<net::Session> admit(boost::asio::ip::tcp::socket socket);

  net::AcceptLoop loop_;
  Token token_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  Routes& routes_;
  HttpLimits limits_;
  std::shared_ptr<HttpCounters> counters_;  // sessions count into it, and may outlive the server
};

}  // namespace lastgasp::http
