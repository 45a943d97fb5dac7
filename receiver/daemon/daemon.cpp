#include "daemon.hpp"

#include <csignal>

#include "notice.hpp"

namespace lastgasp::daemon {

namespace {

constexpr auto kHousekeepingInterval = std::chrono::seconds(1);
constexpr auto kReportInterval = std::chrono::seconds(60);

stream::StreamSettings stream_settings(const config::ReceiverConfig& c) {
  stream::StreamSettings s;
  s.timeouts.fragment = c.fragment_timeout;
  s.timeouts.legacy_line = c.legacy_line_timeout;
  s.fragment_limits.stream_cap = c.reassembly_stream_cap;
  s.reorder_window = c.reorder_window;
  return s;
}

sinks::FileSinkSettings file_settings(const config::ReceiverConfig& c) {
  sinks::FileSinkSettings s;
  s.incident_context = c.incident_context;
  s.incident_quiet = c.incident_quiet;
  s.max_open_files = c.max_open_files;
  return s;
}

}  // namespace

Daemon::Daemon(boost::asio::io_context& io, const config::ReceiverConfig& config)
    : io_(io),
      config_(config),
      log_dir_(config.log_dir),
      files_(log_dir_, file_settings(config)),
      budget_{config.reassembly_global_cap, 0},
      hosts_(config.hosts, log_dir_, stream_settings(config), budget_, config.max_hosts),
      timer_(io),
      signals_(io, SIGTERM, SIGINT, SIGHUP) {}

Daemon::~Daemon() {
  hosts_.for_each([&](hosts::Host& host) { files_.forget(host.files); });
}

void Daemon::start() {
  for (const std::string& address : config_.listen) {
    auto listener = std::make_unique<net::UdpListener>(io_, address, config_.receive_buffer, *this);
    notice(Severity::info, "listening on " + listener->name() + ", receive buffer " +
                               std::to_string(listener->receive_buffer()) + " bytes, logs in " +
                               config_.log_dir.string());
    listeners_.push_back(std::move(listener));
  }
  for (auto& listener : listeners_) listener->start();
  watch_signals();
  tick();
}

void Daemon::watch_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      files_.reopen();
      notice(Severity::info, "SIGHUP: log files reopened");
      watch_signals();
      return;
    }
    stop();
  });
}

void Daemon::on_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                         const wire::Instant& now) {
  auto sender = hosts::SenderAddress::from_sockaddr(source, source_len);
  if (!sender) return;
  hosts::Host* found = hosts_.host(*sender);
  if (!found) {
    ++hosts_refused_;
    return;
  }
  hosts::Host& host = *found;
  hosts::Stream& stream = hosts_.stream(host, sender->port);
  host.last_seen = now.mono;
  stream.machine.feed(payload, now, events_, counters_);
  write_events(host, stream, now.mono);
  if (stream.machine.next_deadline()) schedule(host);
}

void Daemon::write_events(hosts::Host& host, const hosts::Stream& stream, wire::MonoTime now) {
  for (const stream::Event& event : events_) files_.write(host.files, event, host.src_field(stream), now);
  events_.clear();
}

void Daemon::schedule(hosts::Host& host) {
  if (host.scheduled) return;
  host.scheduled = true;
  scheduled_.push_back(&host);
}

void Daemon::tick() {
  if (stopped_) return;
  auto now = wire::MonoTime::clock::now();
  std::vector<hosts::Host*> due;
  due.swap(scheduled_);
  for (hosts::Host* host : due) {
    host->scheduled = false;
    for (hosts::Stream& stream : host->streams) {
      stream.machine.expire(now, events_, counters_);
      write_events(*host, stream, now);
      if (stream.machine.next_deadline()) schedule(*host);
    }
  }
  files_.flush();
  if (now - last_housekeeping_ >= kHousekeepingInterval) housekeeping(now);
  timer_.expires_at(now + config_.flush_interval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void Daemon::housekeeping(wire::MonoTime now) {
  last_housekeeping_ = now;
  files_.close_quiet_incidents(now);
  // A silent host holds nothing (its deadlines have all passed): drop it, it resumes from its log.
  hosts_.evict_if([&](hosts::Host& host) {
    if (host.scheduled || now - host.last_seen < config_.stream_idle) return false;
    files_.forget(host.files);
    return true;
  });
  report_trouble(now);
}

// Tells the operator, at most once a minute, when something went wrong since the last time.
void Daemon::report_trouble(wire::MonoTime now) {
  if (now - last_report_ < kReportInterval) return;
  std::uint64_t trouble = hosts_refused_ + counters_.wire.malformed_total() + files_.counters().write_errors;
  for (const auto& l : listeners_) trouble += l->counters().kernel_drops;
  if (trouble == reported_trouble_) return;
  reported_trouble_ = trouble;
  last_report_ = now;
  notice(Severity::warning, summary());
}

void Daemon::stop() {
  if (stopped_) return;
  stopped_ = true;
  auto now = wire::MonoTime::clock::now();
  hosts_.for_each([&](hosts::Host& host) {
    for (hosts::Stream& stream : host.streams) {
      stream.machine.drain(events_, counters_);
      write_events(host, stream, now);
    }
  });
  files_.flush();
  for (auto& listener : listeners_) listener->close();
  timer_.cancel();
  signals_.cancel();
  notice(Severity::info, "stopping: " + summary());
}

std::string Daemon::summary() const {
  std::uint64_t datagrams = 0, drops = 0;
  for (const auto& l : listeners_) {
    datagrams += l->counters().datagrams;
    drops += l->counters().kernel_drops;
  }
  const auto& w = counters_.wire;
  const auto& s = counters_.sequence;
  std::string out = std::to_string(hosts_.size()) + " hosts, " + std::to_string(datagrams) + " datagrams, " +
                    std::to_string(s.records) + " records, " + std::to_string(s.gaps) + " gaps (" +
                    std::to_string(s.lost) + " lost), " + std::to_string(s.reboots) + " reboots, " +
                    std::to_string(s.duplicates) + " duplicates, " + std::to_string(drops) + " kernel drops, " +
                    std::to_string(files_.counters().write_errors) + " write errors, " +
                    std::to_string(hosts_refused_) + " datagrams from hosts over max_hosts, malformed:";
  bool any = false;
  for (std::size_t i = 0; i < w.malformed.size(); ++i) {
    if (!w.malformed[i]) continue;
    out += std::string(" ") + wire::kMalformedNames[i] + "=" + std::to_string(w.malformed[i]);
    any = true;
  }
  return any ? out : out + " none";
}

}  // namespace lastgasp::daemon
