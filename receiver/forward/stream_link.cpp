#include "stream_link.hpp"

#include <utility>  // before Boost 1.74's awaitable.hpp, which uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "net/tls.hpp"
#include "notice.hpp"
#include "syslog_message.hpp"

namespace lastgasp::forward {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// The connection, and sending the spool through it. Everything here runs on the link's
// thread but wake() and stop().
class StreamLink : public Link {
 public:
  StreamLink(const config::Forward& settings, Spool& spool)
      : settings_(settings), spool_(spool), work_(io_.get_executor()), resolver_(io_), retry_(io_), tick_(io_) {
    if (settings_.uses_tls()) tls_context_.emplace(make_tls_context());
  }

  void run() override {
    asio::post(io_, [this] { connect(); });
    arm_tick();
    io_.run();
  }

  void stop() override {
    asio::post(io_, [this] {
      work_.reset();
      close();
      retry_.cancel();
      tick_.cancel();
      resolver_.cancel();
      stopping_ = true;
    });
  }

  // The writer pushed a message: if the link sits idle, it sends again.
  void wake() override {
    if (idle_.exchange(false)) asio::post(io_, [this] { send_next(); });
  }

 private:
  asio::ssl::context make_tls_context() {
    try {
      return net::client_context({"ca_file", settings_.ca_file}, {"cert_file", settings_.cert_file},
                                 {"key_file", settings_.key_file});
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("forward " + settings_.name + ": " + e.what());
    }
  }

  void connect() {
    if (stopping_) return;
    resolver_.async_resolve(settings_.host, std::to_string(settings_.port),
                            [this](error_code ec, tcp::resolver::results_type results) {
                              if (stopping_) return;
                              if (ec) return failed("cannot resolve", ec);
                              socket_.emplace(io_);
                              asio::async_connect(*socket_, results, [this](error_code ec, const tcp::endpoint&) {
                                if (ec) return failed("cannot connect", ec);
                                if (tls_context_) return handshake();
                                connected();
                              });
                            });
  }

  void handshake() {
    tls_.emplace(std::move(*socket_), *tls_context_);
    socket_.reset();
    // OpenSSL checks the name (or the address) in the certificate during the handshake.
    net::expect_peer(tls_->native_handle(), settings_.host);
    tls_->async_handshake(asio::ssl::stream_base::client, [this](error_code ec) {
      if (ec) return failed("TLS handshake failed", ec);
      connected();
    });
  }

  void connected() {
    if (stopping_) return close();
    ++generation_;
    backoff_ = kFirstBackoff;
    connects_.fetch_add(1, std::memory_order_relaxed);
    connected_.store(true, std::memory_order_relaxed);
    if (reported_down_) notice(Severity::info, describe(settings_) + ": connected again");
    reported_down_ = false;
    watch_for_close(generation_);
    send_next();
  }

  // The destination never speaks: a read that ends says the connection went.
  void watch_for_close(unsigned generation) {
    auto done = [this, generation](error_code ec, std::size_t) {
      if (generation != generation_ || ec == asio::error::operation_aborted) return;
      lost(ec ? ec : asio::error::eof);
    };
    if (tls_) tls_->async_read_some(asio::buffer(discard_), done);
    else socket_->async_read_some(asio::buffer(discard_), done);
  }

  void send_next() {
    if (stopping_ || sending_ || !connected_.load(std::memory_order_relaxed)) return;
    const std::vector<Message>& batch = spool_.peek(kBatchBytes);
    if (batch.empty()) {
      idle_.store(true);
      // A push between the peek and the flag would wait for the next one: look again.
      if (spool_.memory_bytes() > 0 && idle_.exchange(false)) asio::post(io_, [this] { send_next(); });
      return;
    }
    out_.clear();
    for (const Message& m : batch) append_octet_counted(out_, m.bytes);
    in_flight_ = batch.size();
    sending_ = true;
    unsigned generation = generation_;
    auto done = [this, generation](error_code ec, std::size_t) {
      sending_ = false;
      if (generation != generation_) return;
      if (ec) return lost(ec);
      spool_.commit(in_flight_);
      sent_.fetch_add(in_flight_, std::memory_order_relaxed);
      send_next();
    };
    if (tls_) asio::async_write(*tls_, asio::buffer(out_), done);
    else asio::async_write(*socket_, asio::buffer(out_), done);
  }

  void lost(error_code ec) {
    disconnects_.fetch_add(1, std::memory_order_relaxed);
    if (!reported_down_) notice(Severity::warning, describe(settings_) + ": connection lost (" + ec.message() + "); spooling");
    reported_down_ = true;
    close();
    retry_later();
  }

  void failed(const char* what, error_code ec) {
    if (stopping_) return;
    connect_errors_.fetch_add(1, std::memory_order_relaxed);
    // What the unit's sandbox answers: no address family, no route, or a denied address.
    bool sandboxed = ec == asio::error::address_family_not_supported || ec == asio::error::network_unreachable ||
                     ec == asio::error::no_permission;
    if (!reported_down_)
      notice(Severity::warning, unreachable_notice(settings_, std::string(what) + " (" + ec.message() + ")", sandboxed));
    reported_down_ = true;
    close();
    retry_later();
  }

  void close() {
    ++generation_;
    connected_.store(false, std::memory_order_relaxed);
    error_code ignored;
    if (tls_) tls_->lowest_layer().close(ignored);
    if (socket_) socket_->close(ignored);
    tls_.reset();
    socket_.reset();
  }

  void retry_later() {
    if (stopping_) return;
    retry_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    retry_.async_wait([this](error_code ec) {
      if (!ec) connect();
    });
  }

  // While the destination is away, what the writer pushes goes to disk.
  void arm_tick() {
    tick_.expires_after(kTick);
    tick_.async_wait([this](error_code ec) {
      if (ec) return;
      if (!connected_.load(std::memory_order_relaxed)) spool_.spill();
      arm_tick();
    });
  }

  const config::Forward& settings_;
  Spool& spool_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::resolver resolver_;
  asio::steady_timer retry_, tick_;
  std::optional<asio::ssl::context> tls_context_;
  std::optional<tcp::socket> socket_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  std::chrono::seconds backoff_ = kFirstBackoff;
  unsigned generation_ = 0;  // handlers of a connection gone since find out here
  bool sending_ = false, stopping_ = false, reported_down_ = false;
  std::string out_;
  std::size_t in_flight_ = 0;
  char discard_[512];
  std::atomic<bool> idle_{false};
};

}  // namespace

std::unique_ptr<Link> make_stream_link(const config::Forward& settings, Spool& spool) {
  return std::make_unique<StreamLink>(settings, spool);
}

}  // namespace lastgasp::forward
