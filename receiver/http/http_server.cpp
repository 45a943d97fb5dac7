#include "http_server.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <charconv>
#include <type_traits>


namespace lastgasp::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace {

constexpr std::string_view kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 28\r\nConnection: close\r\n\r\n"
    "too many connections, later\n";

std::string_view std_view(beast::string_view text) { return {text.data(), text.size()}; }

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

}  // namespace

std::optional<long> query_number(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.size() <= key.size() || !pair.starts_with(key) || pair[key.size()] != '=') continue;
    std::string_view digits = pair.substr(key.size() + 1);
    long value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec == std::errc{} && end == digits.data() + digits.size() && value >= 0) return value;
  }
  return std::nullopt;
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      int high = hex_digit(text[i + 1]), low = hex_digit(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> query_values(std::string_view query, std::string_view key) {
  std::vector<std::string> values;
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.size() < key.size() + 1 || !pair.starts_with(key) || pair[key.size()] != '=') continue;
    auto value = percent_decode(pair.substr(key.size() + 1));
    if (!value) return std::nullopt;
    values.push_back(std::move(*value));
  }
  return values;
}

Token::Token(std::string_view secret) : required_(true), digest_(sha256(secret)) {}

// Digests of equal length compared with CRYPTO_memcmp: the time taken says nothing of how much
// of a guess was right, nor of the token's length.
bool Token::accepts(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  if (!required_) return true;
  if (authorization.size() < kScheme.size() ||
      !beast::iequals(beast::string_view(authorization.data(), kScheme.size()), kScheme.data()))
    return false;
  auto given = sha256(authorization.substr(kScheme.size()));
  return CRYPTO_memcmp(given.data(), digest_.data(), digest_.size()) == 0;
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: (over TLS, a handshake, then) read a request, answer it, and again while the
// peer keeps the connection alive; closes on any error, a deadline, or when the server closes.
// An event stream's reply keeps it to the end: written from a bounded queue, each write under
// the deadline. The same code for HTTP and HTTPS: only the handshake and the goodbye differ.
template <class Stream>
class HttpSession : public net::Session, public EventStream, public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // TLS: the server's context, for an HTTPS session (which keeps it as long as it lives).
  HttpSession(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, const Token& token, Routes& routes,
              const HttpLimits& limits, std::shared_ptr<HttpCounters> counters)
      : tls_(std::move(tls)),
        stream_(open(std::move(socket), tls_.get())),
        answer_deadline_(stream_.get_executor()),
        buffer_(limits.header_bytes),
        token_(token),
        routes_(routes),
        limits_(limits),
        counters_(std::move(counters)) {}

  void start() {
    // Started on the acceptor's executor, which is the session's: as in Beast's examples.
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->handshake(); });
  }

  void close() override {
    finishing_ = true;
    answer_deadline_.cancel();
    beast::error_code ignored;
    transport().socket().shutdown(tcp::socket::shutdown_both, ignored);
    transport().close();
  }

 private:
  static Stream open(tcp::socket socket, asio::ssl::context* tls) {
    if constexpr (kTls) return Stream(std::move(socket), *tls);
    else return Stream(std::move(socket));
  }

  beast::tcp_stream& transport() { return beast::get_lowest_layer(stream_); }
  const beast::tcp_stream& transport() const { return beast::get_lowest_layer(stream_); }

  // Under the deadline of a request's read; one that fails, or never ends, is a bad request.
  void handshake() {
    if constexpr (!kTls) {
      read();
    } else {
      transport().expires_after(limits_.timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (!ec) return self->read();
        if (ec != asio::error::operation_aborted) ++self->counters_->bad;
        self->close();
      });
    }
  }

  // After the last bytes of a reply: over TLS, a close_notify first, which tells the client it
  // has them all (an event stream ends with the connection). The peer's is not waited for: a
  // peer that never sends it must not hold the slot. Marked as come already, OpenSSL sends ours
  // and is done.
  void end() {
    if constexpr (!kTls) {
      close();
    } else {
      SSL_set_shutdown(stream_.native_handle(), SSL_RECEIVED_SHUTDOWN);
      transport().expires_after(limits_.timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close(); });
    }
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(limits_.header_bytes);
    parser_->body_limit(0);  // read-only: a request has no business carrying a body
    transport().expires_after(limits_.timeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
        !transport().socket().is_open())
      return close();
    if (ec) {
      ++counters_->bad;
      bool too_big = ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow;
      return refuse(too_big ? bhttp::status::request_header_fields_too_large : bhttp::status::bad_request,
                    too_big ? "request header too large\n" : "bad request: " + ec.message() + "\n");
    }
    ++counters_->requests;
    const auto& request = parser_->get();
    head_only_ = request.method() == bhttp::verb::head;
    keep_alive_ = request.keep_alive();
    version_ = request.version();
    if (request.method() != bhttp::verb::get && !head_only_) {
      auto reply = make(bhttp::status::method_not_allowed, "only GET and HEAD: this side is read-only\n");
      reply.set(bhttp::field::allow, "GET, HEAD");
      return send(std::move(reply));
    }
    if (!token_.accepts(std_view(request[bhttp::field::authorization]))) {
      ++counters_->unauthorized;
      auto reply = make(bhttp::status::unauthorized, "a bearer token is required (http_token_file)\n");
      reply.set(bhttp::field::www_authenticate, "Bearer realm=\"lastgasp\"");
      return send(std::move(reply));
    }
    std::string_view target = std_view(request.target());
    std::size_t question = target.find('?');
    ask({target.substr(0, question), question == std::string_view::npos ? "" : target.substr(question + 1),
         std_view(request["Last-Event-ID"])});
  }

  // The answer may come later (from the writer's thread, posted back here): until it does no
  // read is pending, so the deadline is a timer of our own.
  void ask(const Request& request) {
    waiting_ = true;
    answer_deadline_.expires_after(limits_.answer_timeout);
    answer_deadline_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || !self->waiting_) return;
      self->waiting_ = false;
      self->keep_alive_ = false;
      self->send(self->make(bhttp::status::service_unavailable, "no answer in time: the receiver is busy\n"));
    });
    routes_.on_get(request, [self = this->shared_from_this()](Reply reply) {
      if (!self->waiting_) return;  // answered 503 already
      self->waiting_ = false;
      self->answer_deadline_.cancel();
      if (reply.stream && reply.status == 200 && !self->head_only_) return self->begin_stream(std::move(reply));
      auto response = self->make(static_cast<bhttp::status>(reply.status), std::move(reply.body));
      response.set(bhttp::field::content_type, reply.content_type);
      self->send(std::move(response));
    });
  }

  // The head, framed by the connection's close (no length, no chunks: what every EventSource
  // reads), then the reply's body; from here the Routes write through send() and finish().
  void begin_stream(Reply reply) {
    beast::error_code ignored;
    transport().socket().set_option(asio::socket_base::send_buffer_size(limits_.stream_send_buffer), ignored);
    queued_ =
        "HTTP/1.1 200 OK\r\nServer: lastgasp-receiver\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n" +
        reply.body;
    watch_for_close();
    reply.stream(this->shared_from_this());
    pump();
  }

  // A client says nothing more on a stream: whatever it sends is read and dropped, and its
  // end (or an error) closes the stream at once rather than at the next write. The read has no
  // deadline (the stream is open as long as the client wants it); each write has its own.
  void watch_for_close() {
    transport().expires_never();
    stream_.async_read_some(asio::buffer(discard_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->watch_for_close();
    });
  }

  bool send(std::string_view bytes) override {
    if (!is_open()) return false;
    if (!queued_.empty() && queued_.size() + bytes.size() > limits_.stream_queue_bytes) return false;
    queued_.append(bytes);
    pump();
    return true;
  }

  void finish(std::string_view bytes) override {
    if (!is_open()) return;
    queued_.assign(bytes);
    finishing_ = true;
    pump();
  }

  bool is_open() const override { return !finishing_ && transport().socket().is_open(); }

  void on_room(std::function<void()> callback) override { room_ = std::move(callback); }

  void pump() {
    if (writing_) return;
    if (queued_.empty()) {
      if (finishing_) end();
      return;
    }
    writing_ = true;
    in_flight_.swap(queued_);
    queued_.clear();
    transport().expires_after(limits_.timeout);
    asio::async_write(stream_, asio::buffer(in_flight_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      self->in_flight_.clear();
      if (ec) return self->close();
      self->pump();  // what was queued meanwhile goes out, and the queue is empty again
      if (self->room_ && self->is_open()) self->room_();
    });
  }

  // A request that did not parse leaves the stream where nobody knows: answer and close.
  void refuse(bhttp::status status, std::string body) {
    keep_alive_ = false;
    version_ = 11;
    head_only_ = false;
    send(make(status, std::move(body)));
  }

  bhttp::response<bhttp::string_body> make(bhttp::status status, std::string body) const {
    bhttp::response<bhttp::string_body> response{status, version_};
    response.set(bhttp::field::server, "lastgasp-receiver");
    response.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    response.set(bhttp::field::cache_control, "no-store");
    response.keep_alive(keep_alive_);
    response.body() = std::move(body);
    response.prepare_payload();
    if (head_only_) {
      std::size_t length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    return response;
  }

  void send(bhttp::response<bhttp::string_body> response) {
    response_ = std::move(response);
    transport().expires_after(limits_.timeout);
    bhttp::async_write(stream_, response_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (!self->keep_alive_) return self->end();
      self->read();
    });
  }

  std::shared_ptr<asio::ssl::context> tls_;
  Stream stream_;
  asio::steady_timer answer_deadline_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  Token token_;
  Routes& routes_;
  HttpLimits limits_;
  std::shared_ptr<HttpCounters> counters_;
  unsigned version_ = 11;
  bool head_only_ = false;
  bool keep_alive_ = false;
  bool waiting_ = false;  // for the Routes' answer
  // An event stream's: what waits, what is being written, and whether it is ending.
  std::string queued_, in_flight_;
  std::function<void()> room_;
  std::array<char, 512> discard_{};
  bool writing_ = false;
  bool finishing_ = false;
};

HttpServer::HttpServer(asio::io_context& io, const std::string& address, Routes& routes, HttpLimits limits)
    : loop_(io), routes_(routes), limits_(limits), counters_(std::make_shared<HttpCounters>()) {
  loop_.listen(address, "http");
}

HttpServer::HttpServer(asio::io_context& io, int fd, Routes& routes, HttpLimits limits)
    : loop_(io), routes_(routes), limits_(limits), counters_(std::make_shared<HttpCounters>()) {
  loop_.adopt(fd);
}

void HttpServer::start(Token token, std::shared_ptr<asio::ssl::context> tls) {
  token_ = token;
  tls_ = std::move(tls);
  loop_.start([this](tcp::socket socket) { return admit(std::move(socket)); });
}

void HttpServer::close() { loop_.close(); }

// The cap is checked before a byte is read: a surplus connection never holds a session. Over
// TLS it is closed without a word: a plain-text 503 would be garbage to a TLS client.
std::shared_ptr<net::Session> HttpServer::admit(tcp::socket socket) {
  if (loop_.sessions() >= limits_.max_connections) {
    ++counters_->busy;
    net::turn_away(socket, tls_ ? "" : kBusy);
    return nullptr;
  }
  auto started = [](auto session) {
    session->start();
    return std::shared_ptr<net::Session>(std::move(session));
  };
  if (tls_) return started(std::make_shared<HttpSession<TlsStream>>(std::move(socket), tls_, token_, routes_, limits_, counters_));
  return started(std::make_shared<HttpSession<PlainStream>>(std::move(socket), nullptr, token_, routes_, limits_, counters_));
}

}  // namespace lastgasp::http
