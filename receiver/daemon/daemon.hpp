// The receiver daemon: the one place that wires the parts together and runs
// their I/O. Data flows one way:
//
//   N receive threads (one SO_REUSEPORT socket each, hosts steered by source
//   address, net/steering.hpp): datagram -> Shard (decode, order, detect)
//        -> batches, in each host's order ->
//   the writer thread: Writer (files, fsyncs, journal, state.json)
//
// and the main thread keeps what is neither: signals and SIGHUP, TCP (pstore
// uploads and verify queries), HTTP, the [[hook]] programs, STATUS= and the
// watchdog. No lock is on the hot path: each host lives on one receive thread,
// each file on the writer, and they meet only in Asio's queues. What the writer has not yet taken is
// bounded; past the bound, records are dropped and counted, never waited for.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/resource.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "hooks/hook_runner.hpp"
#include "hosts/allow_list.hpp"
#include "http/http_server.hpp"
#include "metrics.hpp"
#include "hosts/host_table.hpp"
#include "live_stream.hpp"
#include "net/tcp_endpoint.hpp"
#include "net/udp_listener.hpp"
#include "receiver_config.hpp"
#include "shard.hpp"
#include "sinks/pstore_store.hpp"
#include "writer.hpp"

namespace lastgasp::daemon {

// Reads the config afresh (on SIGHUP); throws config::ConfigError.
using ConfigLoader = std::function<config::ReceiverConfig()>;

// The HTTP side's TLS from CONFIG's http_tls_cert_file and http_tls_key_file, or nullptr when
// it has none; throws std::runtime_error saying which file is wrong and what to do.
std::shared_ptr<boost::asio::ssl::context> http_tls(const config::ReceiverConfig& config);

class Daemon : public net::TcpHandler, public http::Routes {
 public:
  Daemon(boost::asio::io_context& io, const config::ReceiverConfig& config, ConfigLoader reload);
  ~Daemon() override;

  // Opens the sockets, or adopts systemd's (throws std::system_error or std::invalid_argument),
  // starts the threads and says READY=1.
  void start();
  // Writes everything held, stops the threads and then the main loop.
  void stop();

  // Without start(), no thread runs, and these drive every part inline, in the order the
  // threads would (the whole-daemon fuzzer): one datagram, and time passing.
  void step_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                     const wire::Instant& now);
  void step_time(wire::MonoTime now);
  // Work that threw and was dropped: none, unless there is a bug.
  std::uint64_t internal_errors() const;

  bool allows(const hosts::SenderAddress& peer) const override { return allow_.allows(peer); }
  std::string on_pstore(const hosts::SenderAddress& peer, wire::PstoreRecord record) override;
  void on_verify(const hosts::SenderAddress& peer, const std::string& token, std::chrono::milliseconds wait,
                 std::function<void(std::string)> reply) override;
  // /metrics, /api/hosts, /api/stream and the page at /.
  void on_get(const http::Request& request, std::function<void(http::Reply)> reply) override;

 private:
  struct ShardThread;
  struct WriterThread;
  friend struct ShardThread;

  void open_sockets();
  // Under socket activation: which settings the socket unit overrides, and what cannot work.
  void say_what_activation_changes() const;
  void hand_to_writer(unsigned shard, std::vector<ToWriter> batch);
  void wake_live_streams();
  void run_hooks(std::vector<hooks::HookEvent> events);
  void pump_inline(wire::MonoTime now);
  void stop_threads();
  void watch_signals();
  void reload();
  void status_tick();
  void report_trouble(wire::MonoTime now);
  bool threads_alive(wire::MonoTime now) const;
  void open_http();
  using RowsWaiter = std::function<void(std::vector<tail::HostRow>)>;
  // Calls WAITER with every host's row, later; false when too many wait already.
  bool with_host_rows(RowsWaiter waiter);
  MetricsInput metrics_input(std::vector<tail::HostRow> rows) const;
  using Figures = DaemonFigures;
  Figures collect() const;
  std::string summary() const;

  boost::asio::io_context& io_;
  config::ReceiverConfig config_;
  ConfigLoader reload_;
  rlim_t descriptor_limit_;
  sinks::LogDirectory log_dir_;
  hosts::HostNames names_;
  hosts::Admission admission_;  // shared by the receive threads
  hosts::AllowList allow_;
  sinks::PstoreStore pstore_;
  std::shared_ptr<net::TcpBudget> tcp_;  // shared by every TCP endpoint
  std::vector<std::unique_ptr<net::TcpEndpoint>> endpoints_;
  std::unique_ptr<http::HttpServer> http_;
  bool socket_activated_ = false;  // systemd passed the sockets
  int http_fd_ = -1;               // the one it named "http", if any
  std::vector<RowsWaiter> rows_waiters_;  // HTTP requests waiting for the writer's host rows
  RecordRing live_ring_;    // the writer's latest lines, for /api/stream
  LiveStreams live_;
  hooks::HookRunner hooks_;  // on this thread: the writer posts it what happened
  std::unique_ptr<WriterThread> writer_;
  std::vector<std::unique_ptr<ShardThread>> shards_;
  std::atomic<std::uint64_t> writer_backlog_{0};   // bytes handed to the writer, not yet taken
  std::atomic<std::uint64_t> writer_behind_{0};    // records dropped because it was too far behind
  boost::asio::steady_timer status_timer_;
  boost::asio::signal_set signals_;
  wire::MonoTime last_report_{};
  std::uint64_t reported_trouble_ = 0;
  std::chrono::microseconds watchdog_interval_{0};  // 0: systemd asked for no watchdog
  bool running_ = false;  // the threads are
  bool stopped_ = false;
};

}  // namespace lastgasp::daemon
