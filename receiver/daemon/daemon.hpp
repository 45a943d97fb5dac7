// The receiver daemon: listeners feed datagrams to each host's streams, the
// events go to the per-host logs, and one event-loop timer does everything
// that must happen with no packet arriving: the ordering window, fragment and
// partial-line timeouts, writing buffered lines, closing quiet incidents.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <vector>

#include "hosts/host_table.hpp"
#include "net/udp_listener.hpp"
#include "receiver_config.hpp"
#include "sinks/file_sink.hpp"

namespace lastgasp::daemon {

class Daemon : public net::DatagramHandler {
 public:
  Daemon(boost::asio::io_context& io, const config::ReceiverConfig& config);
  ~Daemon() override;

  // Opens the listeners (throws std::system_error or std::invalid_argument) and starts the timers.
  void start();
  // Writes everything held and stops the loop.
  void stop();

  void on_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                   const wire::Instant& now) override;

  const std::vector<std::unique_ptr<net::UdpListener>>& listeners() const { return listeners_; }
  stream::StreamCounters stream_counters() const { return counters_; }

 private:
  void tick();
  void housekeeping(wire::MonoTime now);
  void report_trouble(wire::MonoTime now);
  void write_events(hosts::Host& host, const hosts::Stream& stream, wire::MonoTime now);
  void schedule(hosts::Host& host);
  void watch_signals();
  std::string summary() const;

  boost::asio::io_context& io_;
  config::ReceiverConfig config_;
  sinks::LogDirectory log_dir_;
  sinks::FileSink files_;
  wire::ReassemblyBudget budget_;
  hosts::HostTable hosts_;
  std::vector<std::unique_ptr<net::UdpListener>> listeners_;
  boost::asio::steady_timer timer_;
  boost::asio::signal_set signals_;
  std::vector<stream::Event> events_;
  std::vector<hosts::Host*> scheduled_;  // hosts with a deadline pending
  stream::StreamCounters counters_;
  wire::MonoTime last_housekeeping_{};
  wire::MonoTime last_report_{};
  std::uint64_t reported_trouble_ = 0;
  std::uint64_t hosts_refused_ = 0;
  bool stopped_ = false;
};

}  // namespace lastgasp::daemon
