// The receiver daemon: listeners feed datagrams to each host's streams, the
// events go to the per-host logs (and the journal, if asked), and one
// event-loop timer does everything that must happen with no packet arriving:
// the ordering window, fragment and partial-line timeouts, writing buffered
// lines, closing quiet incidents, saving host state, evicting silent hosts,
// and telling systemd how we are.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/resource.h>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "hosts/allow_list.hpp"
#include "hosts/host_table.hpp"
#include "net/tcp_endpoint.hpp"
#include "net/udp_listener.hpp"
#include "receiver_config.hpp"
#include "sinks/disk_worker.hpp"
#include "sinks/file_sink.hpp"
#include "sinks/journal_sink.hpp"

namespace lastgasp::daemon {

// Reads the config afresh (on SIGHUP); throws config::ConfigError.
using ConfigLoader = std::function<config::ReceiverConfig()>;

class Daemon : public net::DatagramHandler, public net::TcpHandler {
 public:
  Daemon(boost::asio::io_context& io, const config::ReceiverConfig& config, ConfigLoader reload);
  ~Daemon() override;

  // Opens the listeners, or adopts systemd's sockets (throws std::system_error
  // or std::invalid_argument), starts the timers and says READY=1.
  void start();
  // Writes everything held and stops the loop.
  void stop();

  void on_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                   const wire::Instant& now) override;
  // Everything due at NOW with no packet arriving (the timer calls it; the
  // whole-daemon fuzzer calls it with a time of its own).
  void advance(wire::MonoTime now);
  // Work that threw and was dropped: none, unless there is a bug.
  std::uint64_t internal_errors() const { return internal_errors_; }
  bool allows(const hosts::SenderAddress& peer) const override { return allow_.allows(peer); }
  std::string on_pstore(const hosts::SenderAddress& peer, sinks::PstoreRecord record) override;
  void on_verify(const hosts::SenderAddress& peer, const std::string& token, std::chrono::milliseconds wait,
                 std::function<void(std::string)> reply) override;

 private:
  void open_listeners();
  template <class Work>
  void guarded(const char* what, Work&& work) noexcept;
  void handle_datagram(const hosts::SenderAddress& sender, std::string_view payload, const wire::Instant& now);
  void tick();
  void housekeeping(wire::MonoTime now);
  void tend_disk(wire::MonoTime now);
  void reload();
  std::string file_pstore(const hosts::SenderAddress& peer, sinks::PstoreRecord record);
  void write_events(hosts::Host& host, const hosts::Stream& stream, wire::MonoTime now);
  void schedule(hosts::Host& host);
  void save_state(hosts::Host& host);
  void save_states_at_exit();
  void watch_signals();
  void report_trouble(wire::MonoTime now);
  void pet_watchdog(wire::MonoTime now);
  void answer_verifies(const hosts::Host& host, const stream::Event& event);
  void expire_verifies(wire::MonoTime now);
  std::string summary() const;
  std::string held() const;

  boost::asio::io_context& io_;
  config::ReceiverConfig config_;
  ConfigLoader reload_;
  rlim_t descriptor_limit_;
  sinks::LogDirectory log_dir_;
  sinks::FileSink files_;
  sinks::DiskWorker disk_;  // after log_dir_ and files_: its thread is joined before they go
  std::optional<sinks::JournalSink> journal_;
  wire::ReassemblyBudget budget_;
  hosts::HostTable hosts_;
  hosts::AllowList allow_;
  sinks::PstoreStore pstore_;
  std::shared_ptr<net::TcpBudget> tcp_;  // shared by every TCP endpoint
  std::vector<std::unique_ptr<net::UdpListener>> listeners_;
  std::vector<std::unique_ptr<net::TcpEndpoint>> endpoints_;
  struct VerifyWaiter {
    std::array<std::uint8_t, 16> peer;
    std::string token;
    wire::MonoTime deadline;
    std::function<void(std::string)> reply;
  };
  std::vector<VerifyWaiter> verifies_;
  boost::asio::steady_timer timer_;
  boost::asio::signal_set signals_;
  std::vector<stream::Event> events_;
  std::vector<hosts::Host*> scheduled_;  // hosts with a deadline pending
  stream::StreamCounters counters_;
  std::uint64_t hosts_refused_ = 0;     // datagrams from hosts over max_hosts
  std::uint64_t new_hosts_limited_ = 0;  // datagrams from new hosts past new_hosts_per_second
  std::uint64_t streams_refused_ = 0;   // datagrams from ports over max_streams_per_host
  std::uint64_t not_allowed_ = 0;  // datagrams from outside the allow list
  std::uint64_t internal_errors_ = 0;
  wire::MonoTime last_internal_error_{};
  wire::MonoTime last_housekeeping_{};
  wire::MonoTime last_disk_request_{};
  wire::MonoTime last_disk_recount_{};
  std::uint64_t disk_write_errors_ = 0;  // the sink's write errors when the disk worker last counted
  wire::MonoTime last_report_{};
  std::uint64_t reported_trouble_ = 0;
  std::chrono::microseconds watchdog_interval_{0};  // 0: systemd asked for no watchdog
  wire::MonoTime last_watchdog_{};
  bool stopped_ = false;
};

}  // namespace lastgasp::daemon
