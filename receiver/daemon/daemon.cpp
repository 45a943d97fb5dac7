#include "daemon.hpp"

#include <systemd/sd-daemon.h>

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <utility>

#include "hosts/host_state.hpp"
#include "notice.hpp"
#include "sinks/log_line.hpp"
#include "wire/escape.hpp"

namespace lastgasp::daemon {

namespace {

constexpr auto kHousekeepingInterval = std::chrono::seconds(1);
// Saving state.json is a file creation and a rename: on ext4 about a millisecond each. A busy
// fleet saved all at once stalls the loop long enough to overflow the socket buffer, so each
// host is saved at most this often, and only so many per housekeeping pass.
constexpr auto kStateSaveInterval = std::chrono::seconds(30);
constexpr unsigned kStateSavesPerPass = 32;
constexpr auto kReportInterval = std::chrono::seconds(60);
constexpr auto kExitSaveBudget = std::chrono::milliseconds(1500);
// The disk worker hears of what was written every second, or sooner once a host may have
// written an eighth of its quota or a rotation's worth (to compress, and to keep min_free), and
// counts everything afresh every 10 s (or a second after a write error, a full disk perhaps),
// which corrects the estimate's drift.
constexpr auto kDiskRequestInterval = std::chrono::seconds(1);
constexpr auto kDiskRecountInterval = std::chrono::seconds(10);

stream::StreamSettings stream_settings(const config::ReceiverConfig& c) {
  stream::StreamSettings s;
  s.timeouts.fragment = c.fragment_timeout;
  s.timeouts.legacy_line = c.legacy_line_timeout;
  s.fragment_limits.stream_cap = c.reassembly_stream_cap;
  s.reorder_window = c.reorder_window;
  return s;
}

// Descriptors kept out of max_open_files: TCP sessions, sockets, and the short-lived opens of the
// datagram path (resume, state, incident context) and of pstore uploads.
constexpr unsigned kReservedDescriptors = 64 + net::TcpLimits{}.max_sessions;

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

sinks::FileSinkSettings file_settings(const config::ReceiverConfig& c, rlim_t descriptor_limit) {
  sinks::FileSinkSettings s;
  rlim_t room = descriptor_limit > kReservedDescriptors + 16 ? descriptor_limit - kReservedDescriptors : 16;
  s.max_open_files = static_cast<unsigned>(std::min<rlim_t>(c.max_open_files, room));
  if (s.max_open_files < c.max_open_files)
    notice(Severity::warning, "max_open_files lowered from " + std::to_string(c.max_open_files) + " to " +
                                  std::to_string(s.max_open_files) + ": the descriptor limit is " +
                                  std::to_string(descriptor_limit) + " (raise LimitNOFILE= or ulimit -Hn)");
  s.incident_context = c.incident_context;
  s.incident_quiet = c.incident_quiet;
  s.incident_burst = c.incident_burst;
  s.incident_refill = c.incident_refill;
  s.incident_max_size = c.incident_max_size;
  s.rotate_size = c.rotate_size;
  s.rotate_keep = c.rotate_keep;
  return s;
}

net::TcpLimits tcp_limits(const config::ReceiverConfig& c) {
  net::TcpLimits l;
  l.max_upload = c.max_upload;
  l.upload_memory = c.upload_memory;
  return l;
}

sinks::DiskQuotas disk_quotas(const config::ReceiverConfig& c) {
  return {c.disk_quota, c.host_quota, c.min_free_bytes, c.min_free_percent};
}

std::uint64_t disk_wake_bytes(const config::ReceiverConfig& c) {
  std::uint64_t bytes = 64u << 20;
  if (c.host_quota) bytes = std::min(bytes, c.host_quota / 8);
  if (c.disk_quota) bytes = std::min(bytes, c.disk_quota / 8);
  if (c.rotate_size) bytes = std::min(bytes, c.rotate_size);
  return bytes;
}

sinks::PstoreQuota pstore_quota(const config::ReceiverConfig& c) {
  return {c.pstore_host_quota, c.pstore_host_records, c.pstore_quota};
}

hosts::HostLimits host_limits(const config::ReceiverConfig& c) {
  hosts::HostLimits l;
  l.max_hosts = c.max_hosts;
  l.max_streams = c.max_streams_per_host;
  l.reassembly_cap = c.reassembly_host_cap;
  l.new_per_second = c.new_hosts_per_second;
  l.new_burst = c.new_hosts_burst;
  return l;
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace

Daemon::Daemon(boost::asio::io_context& io, const config::ReceiverConfig& config, ConfigLoader reload)
    : io_(io),
      config_(config),
      reload_(std::move(reload)),
      descriptor_limit_(raise_descriptor_limit()),
      log_dir_(config.log_dir),
      files_(log_dir_, file_settings(config, descriptor_limit_)),
      disk_(log_dir_, disk_quotas(config)),
      budget_{config.reassembly_global_cap, 0},
      hosts_(config.hosts, log_dir_, stream_settings(config), budget_, host_limits(config)),
      allow_(config.allow),
      pstore_(log_dir_, pstore_quota(config)),
      tcp_(std::make_shared<net::TcpBudget>(tcp_limits(config))),
      timer_(io),
      signals_(io, SIGTERM, SIGINT, SIGHUP) {
  if (config.journal) journal_.emplace();
}

Daemon::~Daemon() {
  save_states_at_exit();
  hosts_.for_each([&](hosts::Host& host) { files_.forget(host.files); });
}

// Every host's lines are written at exit, but its state.json (figures for `hosts`) only while
// time allows: tens of thousands of spoofed hosts would otherwise keep the daemon past
// systemd's stop timeout. Hosts that panicked go first, then the busiest.
void Daemon::save_states_at_exit() {
  std::vector<hosts::Host*> dirty;
  hosts_.for_each([&](hosts::Host& host) {
    if (host.state.dirty) dirty.push_back(&host);
  });
  auto rank = [](const hosts::Host* h) { return std::pair(h->state.panics + h->state.incidents, h->state.records); };
  std::sort(dirty.begin(), dirty.end(), [&](auto* a, auto* b) { return rank(a) > rank(b); });
  const auto deadline = wire::MonoTime::clock::now() + kExitSaveBudget;
  std::size_t saved = 0;
  for (; saved < dirty.size() && wire::MonoTime::clock::now() < deadline; ++saved)
    guarded("saving state at exit", [&] { save_state(*dirty[saved]); });
  if (saved < dirty.size())
    notice(Severity::warning, std::to_string(dirty.size() - saved) + " of " + std::to_string(dirty.size()) +
                                  " host states not saved at exit (out of time); their logs are complete");
}

// No sender's bytes may end the daemon. Whatever one piece of work throws (a
// bug, or memory running out) is counted and reported, that piece is dropped,
// and the loop goes on with every other host. The fuzzer asserts the count is 0.
template <class Work>
void Daemon::guarded(const char* what, Work&& work) noexcept {
  try {
    work();
    return;
  } catch (const std::exception& e) {
    if (internal_errors_++ == 0 || wire::MonoTime::clock::now() - last_internal_error_ >= kReportInterval)
      notice(Severity::error, std::string("internal error while ") + what + ": " + e.what() + " (" +
                                  std::to_string(internal_errors_) + " so far; that work was dropped)");
  } catch (...) {
    ++internal_errors_;
  }
  last_internal_error_ = wire::MonoTime::clock::now();
  events_.clear();
}

void Daemon::open_listeners() {
  // Under socket activation systemd holds the sockets (and the service may have no network of its own).
  int passed = sd_listen_fds(1);
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + passed; ++fd) {
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_DGRAM, -1) > 0)
      listeners_.push_back(std::make_unique<net::UdpListener>(io_, fd, *this));
    else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
      endpoints_.push_back(std::make_unique<net::TcpEndpoint>(io_, fd, *this, tcp_));
    else
      notice(Severity::warning, "ignoring socket fd " + std::to_string(fd) + " from systemd: neither UDP nor listening TCP");
  }
  if (passed > 0) return;
  // netconsole over UDP, and uploads and verify queries over TCP, on the same address and port.
  for (const std::string& address : config_.listen) {
    listeners_.push_back(std::make_unique<net::UdpListener>(io_, address, config_.receive_buffer, *this));
    endpoints_.push_back(std::make_unique<net::TcpEndpoint>(io_, address, *this, tcp_));
  }
}

void Daemon::start() {
  open_listeners();
  for (auto& listener : listeners_) {
    notice(Severity::info, "listening on " + listener->name() + ", receive buffer " +
                               std::to_string(listener->receive_buffer()) + " bytes, logs in " +
                               config_.log_dir.string());
    listener->start();
  }
  for (auto& endpoint : endpoints_) {
    notice(Severity::info, "listening on " + endpoint->name() + " for pstore uploads and verify queries");
    endpoint->start();
  }
  std::uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) watchdog_interval_ = std::chrono::microseconds(watchdog_usec / 2);
  watch_signals();
  tick();
  sd_notify(0, "READY=1");
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
  files_.reopen();
  try {
    config::ReceiverConfig fresh = reload_();
    if (fresh.listen != config_.listen || fresh.log_dir != config_.log_dir)
      notice(Severity::warning, "listen and log_dir changes take effect at the next restart");
    fresh.listen = config_.listen;
    fresh.log_dir = config_.log_dir;
    config_ = fresh;
    files_.configure(file_settings(config_, descriptor_limit_));
    hosts_.configure(config_.hosts, stream_settings(config_), host_limits(config_));
    allow_ = hosts::AllowList(config_.allow);
    pstore_.set_quota(pstore_quota(config_));
    disk_.configure(disk_quotas(config_));
    budget_.cap = config_.reassembly_global_cap;
    if (config_.journal && !journal_) journal_.emplace();
    if (!config_.journal) journal_.reset();
    notice(Severity::info, "SIGHUP: log files reopened, config reloaded");
  } catch (const std::exception& e) {
    notice(Severity::error, std::string("SIGHUP: keeping the old config: ") + e.what());
  }
  sd_notify(0, "READY=1");
}

void Daemon::on_datagram(const sockaddr* source, socklen_t source_len, std::string_view payload,
                         const wire::Instant& now) {
  auto sender = hosts::SenderAddress::from_sockaddr(source, source_len);
  if (!sender) return;
  if (!allow_.allows(*sender)) {
    ++not_allowed_;
    return;
  }
  guarded("taking a datagram", [&] { handle_datagram(*sender, payload, now); });
}

void Daemon::handle_datagram(const hosts::SenderAddress& sender, std::string_view payload, const wire::Instant& now) {
  auto refusal = hosts::HostTable::Refusal::none;
  hosts::Host* found = hosts_.host(sender, now.mono, refusal);
  if (!found) {
    ++(refusal == hosts::HostTable::Refusal::new_host_rate ? new_hosts_limited_ : hosts_refused_);
    return;
  }
  hosts::Host& host = *found;
  hosts::Stream* stream = hosts_.stream(host, sender.port);
  if (!stream) {
    ++streams_refused_;
    ++host.state.ports_over_cap;
    host.state.dirty = true;
    return;
  }
  host.last_seen = stream->last_seen = now.mono;
  stream->machine.feed(payload, now, events_, counters_);
  write_events(host, *stream, now.mono);
  if (stream->machine.next_deadline()) schedule(host);
}

void Daemon::write_events(hosts::Host& host, const hosts::Stream& stream, wire::MonoTime now) {
  for (stream::Event& event : events_) {
    host.state.count(event);
    if (event.type == stream::EventType::reboot) event.record.fields.push_back({"boot", std::to_string(host.state.boots)});
    files_.write(host.files, event, host.src_field(stream), now);
    if (journal_) journal_->write(host.name(), host.state.boots, event);
    if (event.type == stream::EventType::incident) save_state(host);
    if (!verifies_.empty() && event.type == stream::EventType::record) answer_verifies(host, event);
  }
  events_.clear();
}

std::string Daemon::on_pstore(const hosts::SenderAddress& peer, sinks::PstoreRecord record) {
  std::string answer = "ERR io\n";
  guarded("filing a pstore record", [&] { answer = file_pstore(peer, std::move(record)); });
  return answer;
}

std::string Daemon::file_pstore(const hosts::SenderAddress& peer, sinks::PstoreRecord record) {
  auto refusal = hosts::HostTable::Refusal::none;
  hosts::Host* host = hosts_.host(peer, wire::MonoTime::clock::now(), refusal);
  if (!host) return "ERR io too-many-hosts\n";
  sinks::StoreOutcome stored = pstore_.store(host->name(), record);
  if (stored.result == sinks::StoreResult::failed) {
    notice(Severity::error, "cannot store a pstore record of " + host->name() + ": " + stored.error.message());
    return "ERR io\n";
  }
  if (stored.result == sinks::StoreResult::over_quota) return "ERR quota " + stored.quota + "\n";
  if (stored.result == sinks::StoreResult::duplicate) return "OK duplicate sha256=" + record.sha256 + "\n";
  const std::string& path = stored.path;
  std::string panic = sinks::find_panic_line(record.bytes);
  stream::Event event;
  event.type = stream::EventType::pstore;
  event.incident = panic.empty() ? stream::IncidentKind::warning : stream::IncidentKind::panic;
  event.record.arrived = {wire::MonoTime::clock::now(), wire::WallTime::clock::now()};
  event.record.text = std::string("lastgasp: pstore ") + (panic.empty() ? "record " : "panic record ") + record.name +
                      " from the boot before " + record.boot_id + " arrived (" + std::to_string(record.bytes.size()) +
                      " bytes)";
  if (!panic.empty()) wire::append_escaped(event.record.text.append(": "), panic);
  event.record.fields = {{"file", path}, {"sha256", record.sha256}, {"boot_id", record.boot_id}};
  wire::Field sender{"sender", {}};
  wire::append_escaped_value(sender.value, record.host_name);
  event.record.fields.push_back(std::move(sender));
  host->last_seen = event.record.arrived.mono;
  host->state.count(event);
  files_.write_pstore(host->files, event, record.bytes, event.record.arrived.mono);
  if (journal_) journal_->write(host->name(), host->state.boots, event);
  save_state(*host);
  return "OK stored sha256=" + record.sha256 + "\n";
}

void Daemon::on_verify(const hosts::SenderAddress& peer, const std::string& token, std::chrono::milliseconds wait,
                       std::function<void(std::string)> reply) {
  // The canary may be here already: look in the tail of the peer's log first.
  files_.flush();
  std::string name = hosts_.directory_for(peer);
  if (int fd = log_dir_.open_read(name, sinks::kConsoleLog); fd >= 0) {
    auto lines = sinks::read_last_lines(fd, 4096, 1u << 20);
    ::close(fd);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      auto cols = sinks::split_log_line(*it);
      if (cols && cols->level != "lastgasp" && cols->text.find(token) != std::string_view::npos)
        return reply("OK found host=" + name + " recv_time=" + std::string(cols->recv_time) + "\n");
    }
  }
  verifies_.push_back({peer.bytes, token, wire::MonoTime::clock::now() + wait, std::move(reply)});
}

void Daemon::answer_verifies(const hosts::Host& host, const stream::Event& event) {
  std::erase_if(verifies_, [&](VerifyWaiter& w) {
    if (host.state.address != hosts::SenderAddress{w.peer, 0}.text() || event.record.text.find(w.token) == std::string::npos)
      return false;
    std::string time;
    sinks::TimeFormatter().append(time, event.record.arrived.wall);
    w.reply("OK found host=" + host.name() + " recv_time=" + time + "\n");
    return true;
  });
}

void Daemon::expire_verifies(wire::MonoTime now) {
  std::erase_if(verifies_, [&](VerifyWaiter& w) {
    if (w.deadline > now) return false;
    w.reply("ERR not-found\n");
    return true;
  });
}

void Daemon::schedule(hosts::Host& host) {
  if (host.scheduled) return;
  host.scheduled = true;
  scheduled_.push_back(&host);
}

void Daemon::save_state(hosts::Host& host) {
  // The sink's per-host drops join the host's figures here, so `hosts` shows them.
  if (host.files.lines_lost_untaken || host.files.incidents_suppressed_untaken) {
    host.state.lines_lost += std::exchange(host.files.lines_lost_untaken, 0);
    host.state.incidents_over_rate += std::exchange(host.files.incidents_suppressed_untaken, 0);
    host.state.dirty = true;
  }
  if (host.state.dirty && !hosts::save_host_state(log_dir_, host.name(), host.state))
    notice(Severity::warning, "cannot save " + host.name() + "/" + hosts::kStateFile + ": " + std::strerror(errno));
}

void Daemon::tick() {
  if (stopped_) return;
  auto now = wire::MonoTime::clock::now();
  advance(now);
  pet_watchdog(now);
  timer_.expires_at(now + config_.flush_interval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void Daemon::advance(wire::MonoTime now) {
  std::vector<hosts::Host*> due;
  due.swap(scheduled_);
  for (hosts::Host* host : due) {
    host->scheduled = false;
    guarded("expiring a host's timeouts", [&] {
      for (hosts::Stream& stream : host->streams) {
        stream.machine.expire(now, events_, counters_);
        write_events(*host, stream, now);
        if (stream.machine.next_deadline()) schedule(*host);
      }
    });
  }
  files_.flush();
  guarded("tending the disk", [&] { tend_disk(now); });
  expire_verifies(now);
  if (now - last_housekeeping_ >= kHousekeepingInterval) guarded("housekeeping", [&] { housekeeping(now); });
}

// Hands the disk worker what was written, and rotates away what it says must go.
void Daemon::tend_disk(wire::MonoTime now) {
  for (const std::string& host : disk_.take_rotate_away()) files_.rotate_away(host);
  if (std::string removed = disk_.take_notice(); !removed.empty()) notice(Severity::warning, removed);
  bool write_errors = files_.counters().write_errors != disk_write_errors_;
  bool recount = now - last_disk_recount_ >= kDiskRecountInterval ||
                 (write_errors && now - last_disk_recount_ >= kDiskRequestInterval);
  if (!recount && now - last_disk_request_ < kDiskRequestInterval &&
      files_.bytes_since_taken() < disk_wake_bytes(config_))
    return;
  if (recount) {
    last_disk_recount_ = now;
    disk_write_errors_ = files_.counters().write_errors;
  }
  last_disk_request_ = now;
  disk_.request({files_.take_growth(), files_.open_incident_files(), recount});
}

void Daemon::pet_watchdog(wire::MonoTime now) {
  if (watchdog_interval_.count() == 0 || now - last_watchdog_ < watchdog_interval_) return;
  last_watchdog_ = now;
  sd_notify(0, "WATCHDOG=1");
}

void Daemon::housekeeping(wire::MonoTime now) {
  last_housekeeping_ = now;
  files_.close_quiet_incidents(now);
  unsigned saves = 0;
  // A silent host holds nothing (its deadlines have all passed): drop it, it resumes from its log.
  hosts_.evict_if([&](hosts::Host& host) {
    hosts_.drop_idle_streams(host, now - config_.stream_idle);
    bool evict = !host.scheduled && now - host.last_seen >= config_.stream_idle;
    bool due = host.state.dirty && now - host.last_saved >= kStateSaveInterval && saves < kStateSavesPerPass;
    if (evict || due) {
      saves += !evict;
      save_state(host);
      host.last_saved = now;
    }
    if (evict) files_.forget(host.files);
    return evict;
  });
  report_trouble(now);
  sd_notify(0, ("STATUS=" + summary()).c_str());
}

// Tells the operator, at most once a minute, when something went wrong since the last time.
void Daemon::report_trouble(wire::MonoTime now) {
  if (now - last_report_ < kReportInterval) return;
  const auto& files = files_.counters();
  std::uint64_t trouble = hosts_refused_ + new_hosts_limited_ + streams_refused_ + not_allowed_ + internal_errors_ +
                          counters_.wire.malformed_total() + files.write_errors + files_.sync_errors() +
                          files.incidents_suppressed;
  for (const auto& l : listeners_) trouble += l->counters().kernel_drops;
  if (journal_) trouble += journal_->errors();
  if (trouble == reported_trouble_) return;
  reported_trouble_ = trouble;
  last_report_ = now;
  notice(Severity::warning, summary());
}

void Daemon::stop() {
  if (stopped_) return;
  stopped_ = true;
  sd_notify(0, "STOPPING=1");
  auto now = wire::MonoTime::clock::now();
  hosts_.for_each([&](hosts::Host& host) {
    for (hosts::Stream& stream : host.streams) {
      stream.machine.drain(events_, counters_);
      write_events(host, stream, now);
    }
  });
  files_.flush();
  for (auto& listener : listeners_) listener->close();
  for (auto& endpoint : endpoints_) endpoint->close();
  timer_.cancel();
  signals_.cancel();
  notice(Severity::info, "stopping: " + summary());
}

// Everything senders make the daemon hold, counted in one place: each has its cap in the config.
std::string Daemon::held() const {
  std::uint64_t streams = 0, unwritten = 0;
  hosts_.for_each([&](const hosts::Host& host) {
    streams += host.streams.size();
    unwritten += host.files.pending.size() + (host.files.incident ? host.files.incident->pending.size() : 0);
  });
  return "held: " + std::to_string(hosts_.size()) + " hosts, " + std::to_string(streams) + " streams, " +
         std::to_string(budget_.used) + " fragment bytes, " + std::to_string(tcp_->upload_memory.used) +
         " upload bytes, " + std::to_string(unwritten) + " bytes awaiting write";
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
                    std::to_string(s.incidents[static_cast<std::size_t>(stream::IncidentKind::panic)]) + " panics, " +
                    std::to_string(s.duplicates) + " duplicates, " + std::to_string(drops) + " kernel drops, " +
                    std::to_string(files_.counters().write_errors) + " write errors, " +
                    std::to_string(files_.sync_errors()) + " sync errors, " +
                    std::to_string(files_.counters().dropped_lines) + " lines lost to write errors, " +
                    std::to_string(journal_ ? journal_->errors() : 0) + " journal errors, " +
                    std::to_string(files_.counters().incidents_suppressed) + " incidents over the rate, " +
                    std::to_string(internal_errors_) + " internal errors; dropped datagrams: " +
                    std::to_string(hosts_refused_) + " over max_hosts, " + std::to_string(new_hosts_limited_) +
                    " new hosts over the rate, " + std::to_string(streams_refused_) +
                    " ports over max_streams_per_host, " + std::to_string(not_allowed_) +
                    " outside the allow list; " + tcp_->summary() + ", " +
                    std::to_string(pstore_.quota_refusals()) + " pstore uploads over quota; " + disk_.summary() +
                    "; " + held() + "; malformed:";
  bool any = false;
  for (std::size_t i = 0; i < w.malformed.size(); ++i) {
    if (!w.malformed[i]) continue;
    out += std::string(" ") + wire::kMalformedNames[i] + "=" + std::to_string(w.malformed[i]);
    any = true;
  }
  return any ? out : out + " none";
}

}  // namespace lastgasp::daemon
