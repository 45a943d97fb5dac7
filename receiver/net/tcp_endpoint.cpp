#include "tcp_endpoint.hpp"

#include <openssl/evp.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <charconv>

#include "endpoint.hpp"
#include "listen_address.hpp"
#include "notice.hpp"

namespace lastgasp::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kMaxHeader = 4096;
constexpr auto kMaxVerifyWait = std::chrono::milliseconds(30'000);

bool all_of_charset(std::string_view s, std::string_view extra) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= s.size()) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
    if (ec != std::errc{} || end != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

tcp::endpoint parse_endpoint(const std::string& text) {
  ListenAddress listen = parse_listen_address(text);
  return {listen.address, listen.port};
}

std::optional<std::uint64_t> number(const std::string* text) {
  if (!text) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || end != text->data() + text->size() || text->empty()) return std::nullopt;
  return n;
}

// One connection: header line, then (for PSTORE) the body, then the answer, and again.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, TcpHandler& handler, const TcpLimits& limits, std::shared_ptr<unsigned> sessions)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), handler_(handler), limits_(limits),
        sessions_(std::move(sessions)), buffer_(kMaxHeader + 1) {
    ++*sessions_;
  }
  ~Session() { --*sessions_; }

  void start() {
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    std::optional<hosts::SenderAddress> peer;
    if (!ec) peer = hosts::SenderAddress::from_sockaddr(remote.data(), static_cast<socklen_t>(remote.size()));
    if (!peer) return close();
    peer_ = *peer;
    // A refused client still gets its answer after its header, rather than a reset mid-send.
    allowed_ = handler_.allows(peer_);
    read_request();
  }

 private:
  void arm_idle_timer() {
    timer_.expires_after(limits_.idle);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->socket_.close();
    });
  }

  void read_request() {
    if (requests_++ >= limits_.max_requests) return finish("ERR bad-request too-many-requests\n");
    arm_idle_timer();
    asio::async_read_until(socket_, buffer_, '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                             if (ec) return self->finish(ec == asio::error::not_found ? "ERR bad-request\n" : "");
                             self->on_header(n);
                           });
  }

  void on_header(std::size_t length) {
    std::string line(asio::buffers_begin(buffer_.data()), asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(length) - 1);
    buffer_.consume(length);
    if (!allowed_) return finish("ERR refused\n");
    auto request = parse_request(line);
    if (!request) return finish("ERR bad-request\n");
    if (request->verb == "PSTORE") return on_pstore_header(*request);
    if (request->verb == "VERIFY") return on_verify(*request);
    finish("ERR bad-request unknown-verb\n");
  }

  void on_pstore_header(const Request& r) {
    const std::string *host = r.get("host"), *boot = r.get("boot_id"), *name = r.get("name"), *sha = r.get("sha256");
    auto size = number(r.get("size"));
    if (!host || !boot || !name || !sha || !size || name->empty() || name->size() > 128 || (*name)[0] == '.' ||
        !all_of_charset(*name, "._-") || boot->empty() || boot->size() > 64 || !all_of_charset(*boot, "-") ||
        sha->size() != 64 || !all_of_charset(*sha, ""))
      return finish("ERR bad-request\n");
    if (*size > limits_.max_upload) return finish("ERR too-large\n");
    record_ = {*host, *boot, *name, *sha, {}};
    for (char& c : record_.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Part of the body may already sit in the buffer behind the header.
    std::size_t have = std::min<std::size_t>(buffer_.size(), *size);
    record_.bytes.assign(asio::buffers_begin(buffer_.data()), asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(have));
    buffer_.consume(have);
    record_.bytes.resize(*size);
    arm_idle_timer();
    asio::async_read(socket_, asio::buffer(record_.bytes.data() + have, *size - have),
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       if (ec) return self->finish("");
                       self->on_pstore_body();
                     });
  }

  void on_pstore_body() {
    if (sha256_hex(record_.bytes) != record_.sha256) return finish("ERR checksum\n");
    respond(handler_.on_pstore(peer_, std::move(record_)));
  }

  void on_verify(const Request& r) {
    const std::string* token = r.get("token");
    auto wait = number(r.get("wait_ms")).value_or(5000);
    if (!token || token->size() < 8 || token->size() > 64 || !all_of_charset(*token, "._-"))
      return finish("ERR bad-request\n");
    timer_.cancel();
    auto bounded = std::min(std::chrono::milliseconds(wait), kMaxVerifyWait);
    handler_.on_verify(peer_, *token, bounded, [self = shared_from_this()](std::string reply) {
      asio::post(self->socket_.get_executor(), [self, reply = std::move(reply)] { self->respond(reply); });
    });
  }

  // Sends LINE; an OK keeps the connection for the next request, an ERR ends it.
  void respond(std::string line) {
    bool keep = line.starts_with("OK");
    auto text = std::make_shared<std::string>(std::move(line));
    asio::async_write(socket_, asio::buffer(*text),
                      [self = shared_from_this(), text, keep](const boost::system::error_code& ec, std::size_t) {
                        if (!ec && keep) self->read_request();
                        else self->close();
                      });
  }

  void finish(std::string line) {
    if (line.empty()) return close();
    respond(std::move(line));
  }

  void close() {
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  TcpHandler& handler_;
  const TcpLimits& limits_;
  std::shared_ptr<unsigned> sessions_;
  asio::streambuf buffer_;
  hosts::SenderAddress peer_;
  sinks::PstoreRecord record_;
  unsigned requests_ = 0;
  bool allowed_ = false;
};

}  // namespace

const std::string* Request::get(std::string_view key) const {
  for (const auto& [k, v] : params)
    if (k == key) return &v;
  return nullptr;
}

std::optional<Request> parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  constexpr std::string_view kMagic = "LASTGASP/1 ";
  if (!line.starts_with(kMagic)) return std::nullopt;
  line.remove_prefix(kMagic.size());
  Request r;
  auto space = line.find(' ');
  r.verb = std::string(line.substr(0, space));
  line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  while (!line.empty()) {
    space = line.find(' ');
    std::string_view word = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    if (word.empty()) continue;
    auto eq = word.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    auto value = percent_decode(word.substr(eq + 1));
    if (!value) return std::nullopt;
    r.params.emplace_back(std::string(word.substr(0, eq)), std::move(*value));
  }
  if (r.verb.empty()) return std::nullopt;
  return r;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

TcpEndpoint::TcpEndpoint(asio::io_context& io, const std::string& address, TcpHandler& handler, TcpLimits limits)
    : acceptor_(io), handler_(handler), limits_(limits) {
  tcp::endpoint endpoint = parse_endpoint(address);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false));
  boost::system::error_code ec;
  acceptor_.bind(endpoint, ec);
  if (ec) throw std::system_error(ec.value(), std::generic_category(), "cannot listen on tcp " + address);
  acceptor_.listen();
}

TcpEndpoint::TcpEndpoint(asio::io_context& io, int fd, TcpHandler& handler, TcpLimits limits)
    : acceptor_(io), handler_(handler), limits_(limits) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  acceptor_.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd);
}

std::string TcpEndpoint::name() const {
  boost::system::error_code ec;
  auto local = acceptor_.local_endpoint(ec);
  return "tcp " + config::format_host_port(local.address().to_string(), local.port());
}

void TcpEndpoint::start() { accept(); }

void TcpEndpoint::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void TcpEndpoint::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (*sessions_ >= limits_.max_sessions) {
        boost::system::error_code ignored;
        socket.close(ignored);  // too many at once: the client retries later
      } else {
        std::make_shared<Session>(std::move(socket), handler_, limits_, sessions_)->start();
      }
    }
    accept();
  });
}

}  // namespace lastgasp::net
