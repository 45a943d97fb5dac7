#include "daemon.hpp"

#include <sched.h>
#include <systemd/sd-daemon.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "http/web_page.hpp"
#include "net/listen_address.hpp"
#include "net/steering.hpp"
#include "net/tls.hpp"
#include "net/udp_listener.hpp"
#include "notice.hpp"
#include "tail/host_rows.hpp"
#include "wire/escape.hpp"
#include "thread_name.hpp"

namespace lastgasp::daemon {

namespace asio = boost::asio;

namespace {

constexpr auto kStatusInterval = std::chrono::seconds(1);
constexpr auto kReportInterval = std::chrono::seconds(60);
constexpr auto kPublishInterval = std::chrono::milliseconds(500);
// A receive thread that has not ticked for this long is stuck: the watchdog is not petted.
constexpr auto kStuckAfter = std::chrono::seconds(10);
// A receive thread hands its batch on at the end of a burst once it is this long, sooner if it
// holds a new host or an incident, and otherwise at each tick (flush_interval).
constexpr std::size_t kHandOffMessages = 512;
constexpr std::size_t kSpareBatches = 4;
// What the writer may have to take before records are dropped (a stalled disk): the bound
// that keeps a hung disk from taking the memory of the machine.
constexpr std::uint64_t kWriterBacklogBytes = 128u << 20;
// HTTP requests waiting at once for the writer's host rows; past it they are answered 503.
constexpr std::size_t kMaxRowsWaiters = 64;
// The latest records, for /api/stream to replay and resume from, and what a client may fall
// behind by before it is let go: a third of a second at 100,000 records/s of short lines.
constexpr std::size_t kLiveRecords = 32768;
constexpr std::size_t kLiveBytes = 8u << 20;

// Raises the soft descriptor limit to the hard one (a shell's 1024 is far too few for a
// fleet) and returns the soft limit in force.
rlim_t raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised{limit.rlim_max, limit.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;  // a seccomp filter may say no
  }
  return limit.rlim_cur;
}

unsigned receive_threads(const config::ReceiverConfig& c) {
  if (c.receive_threads) return c.receive_threads;
  cpu_set_t cpus;
  if (::sched_getaffinity(0, sizeof cpus, &cpus) != 0) return 1;
  return static_cast<unsigned>(std::max(1, CPU_COUNT(&cpus)));
}

net::TcpLimits tcp_limits(const config::ReceiverConfig& c) {
  net::TcpLimits l;
  l.max_upload = c.max_upload;
  l.upload_memory = c.upload_memory;
  return l;
}

sinks::PstoreQuota pstore_quota(const config::ReceiverConfig& c) {
  return {c.pstore_host_quota, c.pstore_host_records, c.pstore_quota};
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}


std::uint64_t message_bytes(const ToWriter& m) {
  std::uint64_t bytes = sizeof m;
  if (auto* w = std::get_if<WriteEvent>(&m.what)) {
    bytes += w->event.record.text.size();
    for (const wire::Field& f : w->event.record.fields) bytes += sizeof f + f.key.size() + f.value.size();
  }
  return bytes;
}

// The bearer token the HTTP side asks for: required wherever http_token_file names one, and
// anywhere but loopback, where the daemon will not start without one. WHERE names the socket.
// Throws std::invalid_argument.
http::Token http_token(const config::ReceiverConfig& c, bool on_loopback, const std::string& where) {
  if (c.http_token_file.empty()) {
    if (on_loopback) return {};
    throw std::invalid_argument(where +
                                " is not on loopback: set http_token_file to a file holding a bearer token, "
                                "or listen on 127.0.0.1");
  }
  std::ifstream file(c.http_token_file);
  std::stringstream text;
  text << file.rdbuf();
  std::string token = text.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (!file || token.empty())
    throw std::invalid_argument("http_token_file " + c.http_token_file.string() + ": cannot read a token from it");
  return http::Token(token);
}

}  // namespace

std::shared_ptr<asio::ssl::context> http_tls(const config::ReceiverConfig& c) {
  if (!c.http_uses_tls()) return nullptr;
  return std::make_shared<asio::ssl::context>(
      net::server_context({"http_tls_cert_file", c.http_tls_cert_file}, {"http_tls_key_file", c.http_tls_key_file}));
}

namespace {

struct Forwarded {
  hosts::SenderAddress sender;
  std::string payload;
  wire::Instant arrived;
};

}  // namespace

// One receive thread: its sockets, its shard, and a timer for what is due with no datagram.
struct Daemon::ShardThread : net::DatagramHandler {
  ShardThread(Daemon& d, unsigned i, hosts::KnownHosts known, unsigned count)
      : daemon(d),
        index(i),
        shard(d.config_, std::move(known), d.admission_, count),
        timer(io),
        flush_interval(d.config_.flush_interval),
        forward(count) {}

  void on_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                   const wire::Instant& now) override {
    auto sender = hosts::SenderAddress::from_sockaddr(source, source_len);
    if (!sender) return;
    unsigned owner = net::steer(*sender, static_cast<unsigned>(forward.size()));
    if (owner == index) return shard.take(*sender, payload, now);
    forward[owner].push_back({*sender, std::string(payload), now});
  }

  // Datagrams the kernel could not steer go to their host's thread; what the shard made goes to
  // the writer once there is enough of it, or something that must not wait.
  void on_batch_end() override {
    for (unsigned owner = 0; owner < forward.size(); ++owner) {
      if (forward[owner].empty()) continue;
      ShardThread& to = *daemon.shards_[owner];
      asio::post(to.io, [&to, batch = std::exchange(forward[owner], {})] {
        if (to.stopping) return;
        for (const Forwarded& f : batch) to.shard.take(f.sender, f.payload, f.arrived);
        to.on_batch_end();
      });
    }
    if (shard.urgent() || shard.outbox_size() >= kHandOffMessages) hand_off();
  }

  void hand_off() {
    if (!shard.outbox_empty()) daemon.hand_to_writer(index, shard.take_outbox(take_spare()));
  }

  // Batches go back and forth rather than being made anew: a batch of 512 is a few hundred KiB,
  // which malloc would take from the kernel, zeroed, every time.
  std::vector<ToWriter> take_spare() {
    std::lock_guard lock(spares_mutex);
    if (spares.empty()) return {};
    std::vector<ToWriter> spare = std::move(spares.back());
    spares.pop_back();
    return spare;
  }

  void give_back(std::vector<ToWriter> batch) {
    batch.clear();
    std::lock_guard lock(spares_mutex);
    if (spares.size() < kSpareBatches) spares.push_back(std::move(batch));
  }

  void loaded(std::vector<HostLoaded> replies) {
    for (HostLoaded& reply : replies) shard.loaded(std::move(reply));
    on_batch_end();
    if (stopping && shard.loading() == 0) finish();
  }

  void tick() {
    auto now = wire::MonoTime::clock::now();
    last_tick.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    shard.advance(now);
    hand_off();
    if (now - last_publish >= kPublishInterval) publish(now);
    timer.expires_at(now + flush_interval);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }

  void publish(wire::MonoTime now) {
    last_publish = now;
    ShardFigures figures = shard.figures();
    net::ListenerCounters sockets;
    for (const auto& l : listeners) {
      sockets.datagrams += l->counters().datagrams;
      sockets.kernel_drops += l->counters().kernel_drops;
    }
    std::lock_guard lock(published_mutex);
    published = figures;
    published_sockets = sockets;
  }

  // Stop receiving; once every loading host is answered, write what is held and end the thread.
  void begin_stop() {
    for (auto& l : listeners) l->close();
    stopping = true;
    if (shard.loading() == 0) finish();
  }

  // The thread ends here, whatever else is queued: nothing after this is for it.
  void finish() {
    shard.drain();
    hand_off();
    timer.cancel();
    publish(wire::MonoTime::clock::now());
    io.stop();
  }

  Daemon& daemon;
  unsigned index;
  asio::io_context io{1};
  Shard shard;
  asio::steady_timer timer;
  std::chrono::milliseconds flush_interval;  // the config's at start: it is the main thread's to change
  std::vector<std::unique_ptr<net::UdpListener>> listeners;
  std::vector<std::vector<Forwarded>> forward;  // per owning thread, until the burst ends
  std::atomic<std::int64_t> last_tick{0};
  wire::MonoTime last_publish{};
  bool stopping = false;
  std::mutex spares_mutex;
  std::vector<std::vector<ToWriter>> spares;  // emptied by the writer, for the next batch
  mutable std::mutex published_mutex;
  ShardFigures published;
  net::ListenerCounters published_sockets;
  std::thread thread;
};

struct Daemon::WriterThread {
  WriterThread(const config::ReceiverConfig& config, const sinks::LogDirectory& dir, unsigned shards, rlim_t limit,
               std::chrono::milliseconds interval)
      : writer(config, dir, shards, limit), timer(io), flush_interval(interval) {}

  void tick() {
    auto now = wire::MonoTime::clock::now();
    writer.advance(now);
    if (auto events = writer.take_hook_events(); !events.empty()) on_hook_events(std::move(events));
    if (now - last_publish >= kPublishInterval) {
      last_publish = now;
      publish();
    }
    timer.expires_at(now + flush_interval);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }

  void publish() {
    WriterFigures figures = writer.figures();
    std::lock_guard lock(published_mutex);
    published = std::move(figures);
  }

  asio::io_context io{1};
  Writer writer;
  std::function<void(std::vector<hooks::HookEvent>)> on_hook_events;  // called on this thread
  asio::steady_timer timer;
  std::chrono::milliseconds flush_interval;
  wire::MonoTime last_publish{};
  mutable std::mutex published_mutex;
  WriterFigures published;
  std::thread thread;
};

Daemon::Daemon(asio::io_context& io, const config::ReceiverConfig& config, ConfigLoader reload)
    : io_(io),
      config_(config),
      reload_(std::move(reload)),
      descriptor_limit_(raise_descriptor_limit()),
      log_dir_(config.log_dir),
      names_(config.hosts),
      admission_(host_limits(config)),
      allow_(config.allow),
      pstore_(log_dir_, pstore_quota(config)),
      tcp_(std::make_shared<net::TcpBudget>(tcp_limits(config))),
      live_ring_(kLiveRecords, kLiveBytes),
      live_(io, live_ring_),
      hooks_(io, config.hooks),
      status_timer_(io),
      signals_(io, SIGTERM, SIGINT, SIGHUP) {
  unsigned count = receive_threads(config);
  writer_ = std::make_unique<WriterThread>(config, log_dir_, count, descriptor_limit_, config.flush_interval);
  writer_->on_hook_events = [this](std::vector<hooks::HookEvent> events) {
    asio::post(io_, [this, events = std::move(events)]() mutable { run_hooks(std::move(events)); });
  };
  // Which hosts have a directory already, read once here, before any datagram: from now on only
  // the writer touches the log directory for the consoles.
  hosts::KnownHosts known(hosts::KnownHosts::hash_all(log_dir_.host_names()));
  for (unsigned i = 0; i < count; ++i) shards_.push_back(std::make_unique<ShardThread>(*this, i, known, count));
}

Daemon::~Daemon() {
  if (running_) stop_threads();
}

std::uint64_t Daemon::internal_errors() const {
  std::uint64_t errors = writer_->writer.internal_errors();
  for (const auto& s : shards_) errors += s->shard.internal_errors();
  return errors;
}

// The socket unit, not the config, decides where and how to listen; and without a TCP socket
// no pstore upload or verify query can reach this receiver. Said once, at start.
void Daemon::say_what_activation_changes() const {
  const config::ReceiverConfig defaults;
  std::string ignored;
  if (config_.listen != defaults.listen) ignored += " listen";
  if (config_.receive_buffer != defaults.receive_buffer) ignored += " receive_buffer";
  if (!ignored.empty())
    notice(Severity::warning, "sockets from systemd: ignoring" + ignored +
                                  " (set ListenDatagram=, ListenStream= and ReceiveBuffer= in lastgasp-receiver.socket)");
  if (endpoints_.empty())
    notice(Severity::warning, "systemd passed no TCP socket: pstore uploads (lastgasp-setup collect) and verify "
                              "queries cannot reach this receiver (add ListenStream= to lastgasp-receiver.socket)");
}

// Under socket activation systemd holds the sockets (and the service may have no network of its
// own): it passes one UDP socket, which the first receive thread reads, handing every other
// thread's hosts on in batches. Otherwise each listen address gets one socket per thread.
void Daemon::open_sockets() {
  char** names = nullptr;
  int passed = sd_listen_fds_with_names(1, &names);
  socket_activated_ = passed > 0;
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + passed; ++fd) {
    char* name = names ? names[fd - SD_LISTEN_FDS_START] : nullptr;
    bool http = name && std::string_view(name) == "http";  // FileDescriptorName=http
    std::free(name);
    if (http && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
      http_fd_ = fd;
    else if (sd_is_socket(fd, AF_UNSPEC, SOCK_DGRAM, -1) > 0)
      shards_[0]->listeners.push_back(std::make_unique<net::UdpListener>(shards_[0]->io, fd, *shards_[0]));
    else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
      endpoints_.push_back(std::make_unique<net::TcpEndpoint>(io_, fd, *this, tcp_));
    else
      notice(Severity::warning, "ignoring socket fd " + std::to_string(fd) + " from systemd: neither UDP nor listening TCP");
  }
  std::free(names);
  if (passed > 0) {
    say_what_activation_changes();
    return;
  }
  // netconsole over UDP, and uploads and verify queries over TCP, on the same address and port.
  for (const std::string& address : config_.listen) {
    std::vector<int> fds = net::open_receive_group(address, static_cast<unsigned>(shards_.size()));
    for (unsigned i = 0; i < fds.size(); ++i)
      shards_[i]->listeners.push_back(
          std::make_unique<net::UdpListener>(shards_[i]->io, fds[i], config_.receive_buffer, *shards_[i]));
    endpoints_.push_back(std::make_unique<net::TcpEndpoint>(io_, address, *this, tcp_));
  }
}

void Daemon::start() {
  open_sockets();
  for (auto& shard : shards_)
    for (auto& listener : shard->listeners) listener->start();
  const auto& first = shards_[0]->listeners;
  for (std::size_t i = 0; i < first.size(); ++i)
    notice(Severity::info, "listening on " + first[i]->name() + " with " + std::to_string(shards_.size()) +
                               " receive threads, receive buffer " + std::to_string(first[i]->receive_buffer()) +
                               " bytes each, logs in " + config_.log_dir.string());
  for (auto& endpoint : endpoints_) {
    notice(Severity::info, "listening on " + endpoint->name() + " for pstore uploads and verify queries");
    endpoint->start();
  }
  open_http();
  std::uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) watchdog_interval_ = std::chrono::microseconds(watchdog_usec / 2);
  writer_->tick();
  writer_->thread = std::thread([w = writer_.get()] {
    name_this_thread("lg-writer");
    w->io.run();
  });
  for (auto& shard : shards_) {
    shard->tick();
    shard->thread = std::thread([s = shard.get()] {
      name_this_thread("lg-rx" + std::to_string(s->index));
      s->io.run();
    });
  }
  running_ = true;
  watch_signals();
  status_tick();
  sd_notify(0, "READY=1");
}

// The HTTP side, on this (the main) thread: it asks the others only through their queues. Under
// socket activation it is the socket named "http", if systemd passes one (the service has no
// network of its own); otherwise http_listen. A missing token stops the daemon (it would serve
// the fleet's consoles to anyone); a port taken does not: receiving the panics matters more
// than reporting on them, and the scrape failing tells Prometheus (LastgaspReceiverDown).
void Daemon::open_http() {
  if (socket_activated_ && http_fd_ < 0) return;
  if (!socket_activated_ && config_.http_listen.empty()) return;
  // From the config, before the bind: a port taken must not let an open address go unchecked,
  // nor a wrong certificate.
  std::optional<http::Token> token;
  if (!socket_activated_)
    token = http_token(config_, net::parse_listen_address(config_.http_listen).address.is_loopback(),
                       "http " + config_.http_listen);
  std::shared_ptr<asio::ssl::context> tls = http_tls(config_);
  try {
    http_ = socket_activated_ ? std::make_unique<http::HttpServer>(io_, http_fd_, *this)
                              : std::make_unique<http::HttpServer>(io_, config_.http_listen, *this);
  } catch (const std::system_error& e) {
    notice(Severity::error, std::string(e.what()) + ": running without /metrics and /api/hosts");
    return;
  }
  if (!token) token = http_token(config_, http_->on_loopback(), http_->name());
  notice(Severity::info, "listening on " + http_->name() + (tls ? " (HTTPS only)" : "") +
                             " for /, /metrics, /api/hosts and /api/stream");
  http_->start(*token, std::move(tls));
  writer_->writer.show_live_to(live_ring_);  // its thread starts after this
}

void Daemon::on_get(const http::Request& request, std::function<void(http::Reply)> reply) {
  const std::string_view path = request.path, query = request.query;
  RowsWaiter answer;
  if (path == "/api/stream") {
    return reply(live_.open(query, request.last_event_id));
  } else if (path == "/") {
    return reply({200, "text/html; charset=utf-8", std::string(http::web_page())});
  } else if (path == "/metrics") {
    answer = [this, reply](std::vector<tail::HostRow> rows) {
      reply({200, kMetricsContentType, render_metrics(metrics_input(std::move(rows)))});
    };
  } else if (path == "/api/hosts") {
    std::int64_t silent_after_us = std::chrono::microseconds(config_.silent_after).count();
    if (auto asked = http::query_number(query, "silent_after"))  // bounded as silent_after_s is
      silent_after_us = std::min<long>(*asked, 86'400L * 365) * 1'000'000;
    answer = [silent_after_us, reply](std::vector<tail::HostRow> rows) {
      nlohmann::json json = tail::hosts_json(rows, tail::wall_now_us(), silent_after_us);
      reply({200, "application/json", json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"});
    };
  } else {
    return reply({404, "text/plain; charset=utf-8", "no such page: try /, /metrics, /api/hosts or /api/stream\n"});
  }
  if (!with_host_rows(std::move(answer)))
    reply({503, "text/plain; charset=utf-8", "too many requests waiting for the writer thread\n"});
}

// The writer's held hosts (fresh) over the state files of the rest, for every request waiting
// at once: one question to the writer however many ask, and the files read here, not there.
bool Daemon::with_host_rows(RowsWaiter waiter) {
  // A writer stuck on a hung disk never answers: what waits for it is bounded.
  if (rows_waiters_.size() >= kMaxRowsWaiters) return false;
  rows_waiters_.push_back(std::move(waiter));
  if (rows_waiters_.size() > 1) return true;  // a question is on its way
  asio::post(writer_->io, [this, w = writer_.get()] {
    asio::post(io_, [this, held = w->writer.host_rows()]() mutable {
      std::vector<tail::HostRow> rows = tail::host_rows(log_dir_, std::move(held), config_.max_hosts);
      for (RowsWaiter& waiter : std::exchange(rows_waiters_, {})) waiter(rows);
    });
  });
  return true;
}

MetricsInput Daemon::metrics_input(std::vector<tail::HostRow> rows) const {
  MetricsInput in;
  in.figures = collect();
  in.writer_behind = writer_behind_.load();
  in.writer_backlog = writer_backlog_.load();
  in.tcp = tcp_->counters;
  in.tcp_sessions = tcp_->sessions();
  in.upload_refusals = tcp_->upload_memory.refusals;
  in.pstore_over_quota = pstore_.quota_refusals();
  in.http = http_->counters();
  in.http_connections = http_->connections();
  in.streams = live_.counters();
  in.streams_open = live_.open_streams();
  in.hooks = hooks_.figures();
  in.hosts = std::move(rows);
  in.now_us = tail::wall_now_us();
  in.silent_after_us = std::chrono::microseconds(config_.silent_after).count();
  return in;
}

void Daemon::hand_to_writer(unsigned shard, std::vector<ToWriter> batch) {
  std::uint64_t bytes = 0;
  for (const ToWriter& m : batch) bytes += message_bytes(m);
  if (writer_backlog_.load(std::memory_order_relaxed) + bytes > kWriterBacklogBytes) {
    // The writer is stuck (a hung disk): its records go, counted per host; the rest stays.
    std::vector<ToWriter> kept;
    std::uint64_t dropped = 0;
    for (ToWriter& m : batch) {
      if (!std::holds_alternative<WriteEvent>(m.what)) {
        kept.push_back(std::move(m));
        continue;
      }
      ++dropped;
      if (kept.empty() || kept.back().host != m.host || !std::holds_alternative<HostDrops>(kept.back().what))
        kept.push_back({m.host, HostDrops{}});
      ++std::get<HostDrops>(kept.back().what).lines_lost;
    }
    writer_behind_.fetch_add(dropped, std::memory_order_relaxed);
    batch.swap(kept);
    bytes = 0;
    for (const ToWriter& m : batch) bytes += message_bytes(m);
  }
  writer_backlog_.fetch_add(bytes, std::memory_order_relaxed);
  asio::post(writer_->io, [this, shard, bytes, batch = std::move(batch)]() mutable {
    writer_->writer.apply(shard, batch, wire::MonoTime::clock::now());
    writer_backlog_.fetch_sub(bytes, std::memory_order_relaxed);
    wake_live_streams();
    ShardThread& to = *shards_[shard];
    to.give_back(std::move(batch));
    std::vector<HostLoaded> replies = writer_->writer.take_replies(shard);
    if (replies.empty()) return;
    asio::post(to.io, [&to, replies = std::move(replies)]() mutable { to.loaded(std::move(replies)); });
  });
}

// On this thread, never the writer's or a receive thread's: a hook's fork and exec cost them nothing.
void Daemon::run_hooks(std::vector<hooks::HookEvent> events) {
  if (stopped_) return;
  for (const hooks::HookEvent& event : events) hooks_.on_event(event);
}

// On the writer's thread, after it wrote: one wake-up for the main thread however many lines.
void Daemon::wake_live_streams() {
  if (live_ring_.take_wakeup()) asio::post(io_, [this] { live_.deliver(); });
}

void Daemon::step_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                           const wire::Instant& now) {
  auto sender = hosts::SenderAddress::from_sockaddr(source, source_len);
  if (!sender) return;
  shards_[net::steer(*sender, static_cast<unsigned>(shards_.size()))]->shard.take(*sender, payload, now);
  pump_inline(now.mono);
}

void Daemon::step_time(wire::MonoTime now) {
  for (auto& s : shards_) s->shard.advance(now);
  pump_inline(now);
  writer_->writer.advance(now);
  run_hooks(writer_->writer.take_hook_events());
}

// Inline, what the queues would carry: each shard's batch to the writer, its answers back, until
// nothing is left to hand on.
void Daemon::pump_inline(wire::MonoTime now) {
  for (bool moved = true; moved;) {
    moved = false;
    for (unsigned i = 0; i < shards_.size(); ++i) {
      Shard& shard = shards_[i]->shard;
      if (shard.outbox_empty()) continue;
      moved = true;
      std::vector<ToWriter> batch = shard.take_outbox();
      writer_->writer.apply(i, batch, now);
      for (HostLoaded& reply : writer_->writer.take_replies(i)) shard.loaded(std::move(reply));
    }
  }
}

void Daemon::watch_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (signal != SIGHUP) return stop();
    reload();
    watch_signals();
  });
}

// SIGHUP: reopen every file (after an outside rotation) and take the config afresh.
void Daemon::reload() {
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", static_cast<unsigned long long>(monotonic_usec()));
  config::ReceiverConfig fresh = config_;
  try {
    fresh = reload_();
    if (fresh.listen != config_.listen || fresh.log_dir != config_.log_dir ||
        fresh.receive_threads != config_.receive_threads || fresh.http_listen != config_.http_listen ||
        fresh.http_token_file != config_.http_token_file || fresh.http_tls_cert_file != config_.http_tls_cert_file ||
        fresh.http_tls_key_file != config_.http_tls_key_file)
      notice(Severity::warning,
             "listen, log_dir, receive_threads, http_listen, http_token_file, http_tls_cert_file and "
             "http_tls_key_file changes take effect at the next restart");
    fresh.listen = config_.listen;
    fresh.log_dir = config_.log_dir;
    fresh.receive_threads = config_.receive_threads;
    fresh.http_listen = config_.http_listen;
    fresh.http_token_file = config_.http_token_file;
    fresh.http_tls_cert_file = config_.http_tls_cert_file;
    fresh.http_tls_key_file = config_.http_tls_key_file;
    config_ = fresh;
    names_ = hosts::HostNames(config_.hosts);
    admission_.configure(host_limits(config_));
    allow_ = hosts::AllowList(config_.allow);
    pstore_.set_quota(pstore_quota(config_));
    hooks_.configure(config_.hooks);
    for (auto& s : shards_) asio::post(s->io, [s = s.get(), c = config_] { s->shard.configure(c); });
    notice(Severity::info, "SIGHUP: log files reopened, config reloaded");
  } catch (const std::exception& e) {
    notice(Severity::error, std::string("SIGHUP: keeping the old config: ") + e.what());
  }
  // Files are reopened either way: that is what a rotating tool's SIGHUP asks for.
  asio::post(writer_->io, [w = writer_.get(), c = config_] { w->writer.configure(c); });
  sd_notify(0, "READY=1");
}

std::string Daemon::on_pstore(const hosts::SenderAddress& peer, wire::PstoreRecord record) {
  std::string name = names_.directory_for(peer);
  sinks::StoreOutcome stored = pstore_.store(name, record);
  if (stored.result == sinks::StoreResult::failed) {
    notice(Severity::error, "cannot store a pstore record of " + name + ": " + stored.error.message());
    return "ERR io\n";
  }
  if (stored.result == sinks::StoreResult::over_quota) return "ERR quota " + stored.quota + "\n";
  if (stored.result == sinks::StoreResult::duplicate) return "OK duplicate sha256=" + record.sha256 + "\n";
  std::string panic = sinks::find_panic_line(record.bytes);
  stream::Event event;
  event.type = stream::EventType::pstore;
  event.incident = panic.empty() ? stream::IncidentKind::warning : stream::IncidentKind::panic;
  event.record.arrived = {wire::MonoTime::clock::now(), wire::WallTime::clock::now()};
  event.record.text = std::string("lastgasp: pstore ") + (panic.empty() ? "record " : "panic record ") + record.name +
                      " from the boot before " + record.boot_id + " arrived (" + std::to_string(record.bytes.size()) +
                      " bytes)";
  std::string panic_line;
  wire::append_escaped_raw(panic_line, panic);
  if (!panic.empty()) event.record.text.append(": ").append(panic_line);
  event.record.fields = {{"file", stored.path}, {"sha256", record.sha256}, {"boot_id", record.boot_id}};
  wire::Field sender{"sender", {}};
  wire::append_escaped_value(sender.value, record.host_name);
  event.record.fields.push_back(std::move(sender));
  std::string answer = "OK stored sha256=" + record.sha256 + "\n";
  asio::post(writer_->io, [this, key = peer.bytes, name, address = peer.text(), event = std::move(event),
                           content = std::move(record.bytes), panic_line = std::move(panic_line)]() mutable {
    writer_->writer.pstore_arrived(key, name, address, std::move(event), content, panic_line,
                                   wire::MonoTime::clock::now());
    wake_live_streams();
  });
  return answer;
}

void Daemon::on_verify(const hosts::SenderAddress& peer, const std::string& token, std::chrono::milliseconds wait,
                       std::function<void(std::string)> reply) {
  // The writer answers on its thread; the session lives on this one.
  auto answer = [this, reply = std::move(reply)](std::string line) {
    asio::post(io_, [reply, line = std::move(line)] { reply(line); });
  };
  asio::post(writer_->io, [w = writer_.get(), key = peer.bytes, name = names_.directory_for(peer), token,
                           deadline = wire::MonoTime::clock::now() + wait, answer = std::move(answer)]() mutable {
    w->writer.verify(key, name, token, deadline, std::move(answer));
  });
}

void Daemon::status_tick() {
  if (stopped_) return;
  auto now = wire::MonoTime::clock::now();
  report_trouble(now);
  sd_notify(0, ("STATUS=" + summary()).c_str());
  if (watchdog_interval_.count() && threads_alive(now)) sd_notify(0, "WATCHDOG=1");
  auto interval = watchdog_interval_.count() ? std::min<std::chrono::microseconds>(kStatusInterval, watchdog_interval_)
                                             : std::chrono::microseconds(kStatusInterval);
  status_timer_.expires_at(now + interval);
  status_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) status_tick();
  });
}

// The watchdog says the receive threads are turning. The writer is left out on purpose: a hung
// disk stalls it, and a restart would lose what it holds without curing the disk.
bool Daemon::threads_alive(wire::MonoTime now) const {
  return std::all_of(shards_.begin(), shards_.end(), [&](const auto& s) {
    wire::MonoTime last{wire::MonoTime::duration(s->last_tick.load(std::memory_order_relaxed))};
    return now - last < kStuckAfter;
  });
}

void Daemon::stop() {
  if (stopped_) return;
  stopped_ = true;
  sd_notify(0, "STOPPING=1");
  for (auto& endpoint : endpoints_) endpoint->close();
  live_.close_all();
  if (http_) http_->close();
  hooks_.stop();
  if (running_) {
    stop_threads();
  } else {
    for (auto& s : shards_) s->shard.drain();
    pump_inline(wire::MonoTime::clock::now());
    writer_->writer.finish();
  }
  status_timer_.cancel();
  signals_.cancel();
  for (auto& s : shards_) s->publish(wire::MonoTime::clock::now());
  writer_->publish();
  notice(Severity::info, "stopping: " + summary());
}

// Each receive thread stops receiving, writes what it holds and ends; then the writer takes
// the last of it, saves host state and ends.
void Daemon::stop_threads() {
  for (auto& s : shards_) asio::post(s->io, [s = s.get()] { s->begin_stop(); });
  for (auto& s : shards_) s->thread.join();
  asio::post(writer_->io, [w = writer_.get()] {
    w->writer.finish();
    w->io.stop();
  });
  writer_->thread.join();
  running_ = false;
}

// Tells the operator, at most once a minute, when something went wrong since the last time.
void Daemon::report_trouble(wire::MonoTime now) {
  if (now - last_report_ < kReportInterval) return;
  const auto [s, sockets, w] = collect();
  std::uint64_t trouble = s.hosts_refused + s.new_hosts_limited + s.streams_refused + s.not_allowed +
                          s.waiting_dropped + s.internal_errors + w.internal_errors + s.counters.wire.malformed_total() +
                          w.files.write_errors + w.sync_errors + w.files.incidents_suppressed + w.journal_errors +
                          sockets.kernel_drops + writer_behind_.load();
  if (trouble == reported_trouble_) return;
  reported_trouble_ = trouble;
  last_report_ = now;
  notice(Severity::warning, summary());
}

// What every thread last published, summed: read from the main thread, never from theirs.
Daemon::Figures Daemon::collect() const {
  Figures f;
  for (const auto& t : shards_) {
    std::lock_guard lock(t->published_mutex);
    f.shards += t->published;
    f.sockets.datagrams += t->published_sockets.datagrams;
    f.sockets.kernel_drops += t->published_sockets.kernel_drops;
  }
  std::lock_guard lock(writer_->published_mutex);
  f.writer = writer_->published;
  return f;
}

std::string Daemon::summary() const {
  const auto [s, sockets, w] = collect();
  const auto& q = s.counters.sequence;
  std::string out =
      std::to_string(s.hosts) + " hosts, " + std::to_string(sockets.datagrams) + " datagrams, " +
      std::to_string(q.records) + " records, " + std::to_string(q.gaps) + " gaps (" + std::to_string(q.lost) +
      " lost), " + std::to_string(q.reboots) + " reboots, " +
      std::to_string(q.incidents[static_cast<std::size_t>(stream::IncidentKind::panic)]) + " panics, " +
      std::to_string(q.duplicates) + " duplicates, " + std::to_string(sockets.kernel_drops) + " kernel drops, " +
      std::to_string(w.files.write_errors) + " write errors, " + std::to_string(w.sync_errors) + " sync errors, " +
      std::to_string(w.files.dropped_lines) + " lines lost to write errors, " +
      std::to_string(writer_behind_.load()) + " lines lost to a writer too far behind, " +
      std::to_string(w.journal_errors) + " journal errors, " + std::to_string(w.files.incidents_suppressed) +
      " incidents over the rate, " + std::to_string(w.files.incident_bytes_cut) +
      " bytes past incident_max_size (in console.log only), " + std::to_string(s.internal_errors + w.internal_errors) +
      " internal errors; dropped datagrams: " + std::to_string(s.hosts_refused) + " over max_hosts, " +
      std::to_string(s.new_hosts_limited) + " new hosts over the rate, " + std::to_string(s.streams_refused) +
      " ports over max_streams_per_host, " + std::to_string(s.not_allowed) + " outside the allow list, " +
      std::to_string(s.waiting_dropped) + " while their host's files were opened; " + tcp_->summary() + ", " +
      std::to_string(pstore_.quota_refusals()) + " pstore uploads over quota; " + w.disk + "; held: " +
      std::to_string(s.hosts) + " hosts, " + std::to_string(s.streams) + " streams, " +
      std::to_string(s.fragment_bytes) + " fragment bytes, " + std::to_string(tcp_->upload_memory.used) +
      " upload bytes, " + std::to_string(w.unwritten_bytes + writer_backlog_.load()) + " bytes awaiting write, " +
      std::to_string(s.waiting_bytes) + " bytes of loading hosts;";
  for (const auto& [name, f] : w.forwards)
    out += " forward " + name + ": " + (f.connected ? "connected" : "down") + ", " + std::to_string(f.sent) +
           " sent, " + std::to_string(f.queued_bytes) + " bytes queued, " + std::to_string(f.spooled_bytes) +
           " bytes spooled, " + std::to_string(f.spool.dropped + f.spool.dropped_priority) + " dropped (" +
           std::to_string(f.spool.dropped_priority) + " of them panics and incidents);";
  out += " malformed:";
  bool any = false;
  const auto& m = s.counters.wire.malformed;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (!m[i]) continue;
    out += std::string(" ") + wire::kMalformedNames[i] + "=" + std::to_string(m[i]);
    any = true;
  }
  return any ? out : out + " none";
}

}  // namespace lastgasp::daemon
