#include "writer.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "http/http_server.hpp"
#include "numbers.hpp"
#include "net/tcp_endpoint.hpp"
#include "sinks/log_line.hpp"
#include "sinks/state_file.hpp"

namespace lastgasp::daemon {

namespace {

constexpr auto kHousekeepingInterval = std::chrono::seconds(1);
// Saving state.json is a file creation and a rename: on ext4 about a millisecond each. Each
// host is saved at most this often, and only so many per housekeeping pass, so that a busy
// fleet's saves never hold up its lines.
constexpr auto kStateSaveInterval = std::chrono::seconds(30);
constexpr unsigned kStateSavesPerPass = 32;
// Hosts that had an incident are saved first, at the next pass, for at most this long a pass:
// a fleet panicking at once makes thousands, and every other host's lines wait meanwhile.
constexpr auto kIncidentSavesBudget = std::chrono::milliseconds(50);
constexpr auto kExitSaveBudget = std::chrono::milliseconds(1500);
// The disk worker hears of what was written every second, or sooner once a host may have
// written an eighth of its quota or a rotation's worth (to compress, and to keep min_free), and
// counts everything afresh every 10 s (or a second after a write error, a full disk perhaps),
// which corrects the estimate's drift.
constexpr auto kDiskRequestInterval = std::chrono::seconds(1);
constexpr auto kDiskRecountInterval = std::chrono::seconds(10);
// Line buffers given back in one housekeeping pass before free memory is returned to the kernel.
constexpr std::size_t kTrimAfterBytes = 1u << 20;

sinks::FileSinkSettings file_settings(const config::ReceiverConfig& c, rlim_t descriptor_limit) {
  sinks::FileSinkSettings s;
  rlim_t reserved = reserved_descriptors();
  rlim_t room = descriptor_limit > reserved + 16 ? descriptor_limit - reserved : 16;
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

// One forwarder per [[forward]] table, each spooling under spool_dir/<name>.
std::vector<std::unique_ptr<forward::Forwarder>> make_forwarders(const config::ReceiverConfig& config) {
  std::vector<std::unique_ptr<forward::Forwarder>> out;
  for (const config::Forward& f : config.forwards)
    out.push_back(std::make_unique<forward::Forwarder>(f, config.spool_dir));
  return out;
}

unsigned hook_kinds(const config::ReceiverConfig& c) {
  unsigned kinds = 0;
  for (const config::Hook& hook : c.hooks) kinds |= hook.on;
  return kinds;
}

std::filesystem::path full_path(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path full = std::filesystem::absolute(path, ec);
  return ec ? path : full;
}

}  // namespace

// TCP sessions and HTTP connections, the sockets of every receive thread, the short-lived
// opens of the writer (resume, state, incident context) and of pstore uploads, and the logs
// the opener has opened and the writer not yet taken.
unsigned reserved_descriptors() {
  return 64 + 64 + net::TcpLimits{}.max_sessions + http::HttpLimits{}.max_connections +
         sinks::OpenWorker::kMaxUntaken;
}

Writer::Writer(const config::ReceiverConfig& config, const sinks::LogDirectory& dir, unsigned shards,
               rlim_t descriptor_limit)
    : config_(config),
      dir_(dir),
      descriptor_limit_(descriptor_limit),
      files_(dir, file_settings(config, descriptor_limit)),
      replies_(shards),
      hook_kinds_(hook_kinds(config)),
      log_root_(full_path(dir.root())),
      disk_(dir, disk_quotas(config)) {
  if (config.journal) journal_.emplace();
  forwards_ = make_forwarders(config);
}

Writer::~Writer() {
  for (auto& [key, host] : hosts_) files_.forget(host->files);
}

void Writer::configure(const config::ReceiverConfig& config) {
  config::ReceiverConfig previous = std::exchange(config_, config);
  hook_kinds_ = hook_kinds(config_);
  files_.reopen();
  files_.configure(file_settings(config_, descriptor_limit_));
  disk_.configure(disk_quotas(config_));
  if (config_.journal && !journal_) journal_.emplace();
  if (!config_.journal) journal_.reset();
  if (config.forwards != previous.forwards || config.spool_dir != previous.spool_dir) {
    // Their spools stay on disk: the new ones go on from there.
    try {
      forwards_.clear();
      forwards_ = make_forwarders(config_);
    } catch (const std::exception& e) {
      notice(Severity::error, std::string("the [[forward]] tables were not taken up: ") + e.what());
    }
  }
}

// Lines are buffered per host and written at the next advance(), one write per host however
// many batches came (an incident is written and fsynced at once by the sink).
void Writer::apply(unsigned shard, std::vector<ToWriter>& batch, wire::MonoTime now) {
  for (ToWriter& message : batch) guard_.run("writing a host's lines", [&] { apply_one(shard, message, now); });
}

void Writer::apply_one(unsigned shard, ToWriter& message, wire::MonoTime now) {
  if (auto* write_event = std::get_if<WriteEvent>(&message.what)) {
    write(message.host, held_host(message.host), *write_event, now);
  } else if (auto* load = std::get_if<LoadHost>(&message.what)) {
    Host& host = host_for(message.host, load->name, load->address);
    host.held = true;
    host.last_active = now;
    replies_.at(shard).push_back({message.host, sinks::read_resume_points(dir_, load->name)});
  } else if (auto* drops = std::get_if<HostDrops>(&message.what)) {
    Host& host = held_host(message.host);
    host.state.ports_over_cap += drops->ports_over_cap;
    host.state.lines_lost += drops->lines_lost;
    host.state.dirty = true;
  } else {
    forget(message.host);
  }
}

Writer::Host& Writer::host_for(const HostKey& key, const std::string& name, const std::string& address) {
  auto& slot = hosts_[key];
  if (!slot) {
    unheard_.erase(name);  // it speaks again
    slot = std::make_unique<Host>(name);
    slot->state = sinks::load_host_state(dir_, name).value_or(hosts::HostState{});
    slot->state.address = address;
  }
  return *slot;
}

// A shard writes only for a host it asked to load, and forgets it only after: anything else is
// a bug, which the guard counts.
Writer::Host& Writer::held_host(const HostKey& key) {
  auto it = hosts_.find(key);
  if (it == hosts_.end()) throw std::logic_error("a message for a host that was never loaded");
  return *it->second;
}

void Writer::write(const HostKey& key, Host& host, WriteEvent& message, wire::MonoTime now) {
  stream::Event& event = message.event;
  host.last_active = now;
  host.silence_told = false;
  host.state.count(event);
  host.files.boot = host.state.boots;
  if (event.type == stream::EventType::reboot) {
    event.record.fields.push_back({"boot", std::to_string(host.state.boots)});
    if (hooks_want(config::HookOn::reboot)) {
      hooks::HookEvent& reboot = hook_events_.emplace_back(
          hook_event(config::HookOn::reboot, host.files.name, host.state.boots, event.record.arrived.wall));
      if (auto seq = event.record.field("seq")) reboot.seq = parse_number<std::uint64_t>(*seq);
    }
  }
  files_.write(host.files, event, message.src, now);
  if (journal_) journal_->write(host.files.name, host.state.boots, event);
  forward(host, message.src, event);
  show_live(host, message.src, event);
  if (event.type == stream::EventType::incident) saves_first_.push_back(key);
  if (!verifies_.empty() && event.type == stream::EventType::record) answer_verifies(key, host, event);
}

void Writer::forward(const Host& host, std::optional<std::uint16_t> src, const stream::Event& event) {
  for (auto& f : forwards_) f->write(host.files.name, host.state.boots, src, event);
}

// The line console.log has, made again rather than taken from the sink: the sink may have
// written it already, or still hold it for a host whose log is being opened.
void Writer::show_live(const Host& host, std::optional<std::uint16_t> src, const stream::Event& event) {
  if (!live_) return;
  live_line_.clear();
  sinks::append_log_line(live_line_, event, src, live_time_);
  live_->push(host.files.name, live_line_);
}

void Writer::forget(const HostKey& key) {
  auto it = hosts_.find(key);
  if (it == hosts_.end()) return;
  Host& host = *it->second;
  save_state(host);
  files_.forget(host.files);
  if (hooks_want(config::HookOn::silent) && !host.silence_told)
    unheard_[host.files.name] = {host.last_active, host.state.boots};
  hosts_.erase(it);
}

void Writer::pstore_arrived(const HostKey& key, const std::string& name, const std::string& address,
                            stream::Event event, const std::string& content, const std::string& panic_line,
                            wire::MonoTime now) {
  guard_.run("writing a pstore record's line", [&] {
    Host& host = host_for(key, name, address);
    host.last_active = now;
    host.silence_told = false;
    host.state.count(event);
    std::string incident_file = files_.write_pstore(host.files, event, content, now);
    if (hooks_want(config::HookOn::pstore)) {
      hooks::HookEvent& pstore = hook_events_.emplace_back(
          hook_event(config::HookOn::pstore, name, host.state.boots, event.record.arrived.wall));
      if (!incident_file.empty()) pstore.incident_file = log_root_ / name / incident_file;
      if (!panic_line.empty()) pstore.incident_kind = stream::incident_name(stream::IncidentKind::panic);
      pstore.trigger_line = panic_line;
      if (auto file = event.record.field("file")) pstore.pstore_file = log_root_ / name / *file;  // under the host's directory
    }
    if (journal_) journal_->write(host.files.name, host.state.boots, event);
    forward(host, std::nullopt, event);
    show_live(host, std::nullopt, event);
    save_state(host);
  });
}

void Writer::save_state(Host& host) {
  // The sink's per-host drops join the host's figures here, so `hosts` shows them.
  if (host.files.lines_lost_untaken || host.files.incidents_suppressed_untaken) {
    host.state.lines_lost += std::exchange(host.files.lines_lost_untaken, 0);
    host.state.incidents_over_rate += std::exchange(host.files.incidents_suppressed_untaken, 0);
    host.state.dirty = true;
  }
  if (host.state.dirty && !sinks::save_host_state(dir_, host.files.name, host.state))
    notice(Severity::warning, "cannot save " + host.files.name + "/" + sinks::kStateFile + ": " + std::strerror(errno));
}

// Every host's lines are written at exit, but its state.json (figures for `hosts`) only while
// time allows: tens of thousands of spoofed hosts would otherwise keep the daemon past
// systemd's stop timeout. Hosts that panicked go first, then the busiest.
void Writer::save_states_at_exit() {
  std::vector<Host*> dirty;
  for (auto& [key, host] : hosts_)
    if (host->state.dirty) dirty.push_back(host.get());
  auto rank = [](const Host* h) { return std::pair(h->state.panics + h->state.incidents, h->state.records); };
  std::sort(dirty.begin(), dirty.end(), [&](auto* a, auto* b) { return rank(a) > rank(b); });
  const auto deadline = wire::MonoTime::clock::now() + kExitSaveBudget;
  std::size_t saved = 0;
  for (; saved < dirty.size() && wire::MonoTime::clock::now() < deadline; ++saved)
    guard_.run("saving state at exit", [&] { save_state(*dirty[saved]); });
  if (saved < dirty.size())
    notice(Severity::warning, std::to_string(dirty.size() - saved) + " of " + std::to_string(dirty.size()) +
                                  " host states not saved at exit (out of time); their logs are complete");
}

void Writer::finish() {
  files_.flush();
  save_states_at_exit();
}

void Writer::verify(const HostKey& key, const std::string& name, const std::string& token, wire::MonoTime deadline,
                    std::function<void(std::string)> reply) {
  // The canary may be here already: look in the tail of the peer's log first, its lines written
  // even if its log (a new host's) is still with the opener.
  files_.flush();
  if (auto it = hosts_.find(key); it != hosts_.end()) files_.flush_now(it->second->files);
  if (int fd = dir_.open_read(name, sinks::kConsoleLog); fd >= 0) {
    auto lines = sinks::read_last_lines(fd, 4096, 1u << 20);
    ::close(fd);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      auto cols = sinks::split_log_line(*it);
      if (cols && cols->level != "lastgasp" && cols->text.find(token) != std::string_view::npos)
        return reply("OK found host=" + name + " recv_time=" + std::string(cols->recv_time) + "\n");
    }
  }
  verifies_.push_back({key, token, deadline, std::move(reply)});
}

void Writer::answer_verifies(const HostKey& key, const Host& host, const stream::Event& event) {
  std::erase_if(verifies_, [&](VerifyWaiter& w) {
    if (w.peer != key || event.record.text.find(w.token) == std::string::npos) return false;
    std::string time;
    sinks::TimeFormatter().append(time, event.record.arrived.wall);
    w.reply("OK found host=" + host.files.name + " recv_time=" + time + "\n");
    return true;
  });
}

void Writer::expire_verifies(wire::MonoTime now) {
  std::erase_if(verifies_, [&](VerifyWaiter& w) {
    if (w.deadline > now) return false;
    w.reply("ERR not-found\n");
    return true;
  });
}

void Writer::advance(wire::MonoTime now) {
  files_.flush();
  guard_.run("tending the disk", [&] { tend_disk(now); });
  expire_verifies(now);
  if (now - last_housekeeping_ >= kHousekeepingInterval) guard_.run("housekeeping", [&] { housekeeping(now); });
}

void Writer::housekeeping(wire::MonoTime now) {
  last_housekeeping_ = now;
  files_.close_quiet_incidents(now);
  notice_silence(now);
  const auto start = std::chrono::steady_clock::now();
  while (!saves_first_.empty() && std::chrono::steady_clock::now() - start < kIncidentSavesBudget) {
    if (auto it = hosts_.find(saves_first_.front()); it != hosts_.end()) {
      save_state(*it->second);
      it->second->last_saved = now;
    }
    saves_first_.pop_front();
  }
  unsigned saves = 0;
  std::size_t released = 0;
  std::erase_if(hosts_, [&](auto& entry) {
    Host& host = *entry.second;
    // A host only a pstore upload brought, silent since: let it go as a shard lets go of its own.
    bool evict = !host.held && now - host.last_active >= config_.stream_idle;
    bool due = host.state.dirty && now - host.last_saved >= kStateSaveInterval && saves < kStateSavesPerPass;
    if (evict || due) {
      saves += !evict;
      save_state(host);
      host.last_saved = now;
    }
    if (evict) files_.forget(host.files);
    else if (now - host.last_active >= kHousekeepingInterval)
      released += files_.compact(host.files);  // most of a fleet is quiet
    return evict;
  });
  // A fleet that fell quiet together leaves the heap full of holes, which malloc keeps resident:
  // hand whole free pages back (bench/run --only rss, 65,536 idle hosts: 2.22 KiB each before, 1.77 after).
  if (released >= kTrimAfterBytes) ::malloc_trim(0);
}

// Hands the disk worker what was written, and rotates away what it says must go.
void Writer::tend_disk(wire::MonoTime now) {
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

// Each host silent for silent_after is told of once, whether still held or let go already; it
// is told again only after it has spoken since.
void Writer::notice_silence(wire::MonoTime now) {
  if (!hooks_want(config::HookOn::silent)) return unheard_.clear();
  const wire::WallTime wall = wire::WallTime::clock::now();
  for (auto& [key, host] : hosts_) {
    if (host->silence_told || now - host->last_active < config_.silent_after) continue;
    host->silence_told = true;
    hook_events_.push_back(hook_event(config::HookOn::silent, host->files.name, host->state.boots, wall));
  }
  std::erase_if(unheard_, [&](const auto& entry) {
    if (now - entry.second.last_active < config_.silent_after) return false;
    hook_events_.push_back(hook_event(config::HookOn::silent, entry.first, entry.second.boot, wall));
    return true;
  });
}

hooks::HookEvent Writer::hook_event(config::HookOn kind, const std::string& host, std::uint64_t boot,
                                    wire::WallTime when) const {
  hooks::HookEvent event;
  event.kind = kind;
  event.host = host;
  event.boot = boot;
  event.log = log_root_ / host / sinks::kConsoleLog;
  event.time = when;
  return event;
}

std::vector<hooks::HookEvent> Writer::take_hook_events() {
  for (sinks::MadeIncident& made : files_.take_made_incidents()) {
    auto kind = made.kind == stream::IncidentKind::panic ? config::HookOn::panic : config::HookOn::incident;
    if (!hooks_want(kind)) continue;
    hooks::HookEvent& event = hook_events_.emplace_back(hook_event(kind, made.host, made.cause.boot, made.opened));
    event.seq = made.cause.seq;
    event.incident_kind = stream::incident_name(made.kind);
    event.incident_file = log_root_ / made.host / made.file;
    event.trigger_line = std::move(made.cause.line);
  }
  return std::exchange(hook_events_, {});
}

std::vector<HostLoaded> Writer::take_replies(unsigned shard) {
  std::vector<HostLoaded> out;
  out.swap(replies_.at(shard));
  return out;
}

std::vector<tail::HostRow> Writer::host_rows() const {
  std::vector<tail::HostRow> rows;
  rows.reserve(hosts_.size());
  for (const auto& [key, host] : hosts_) {
    tail::HostRow& row = rows.emplace_back(tail::HostRow{host->files.name, host->state});
    row.state.lines_lost += host->files.lines_lost_untaken;  // as save_state() will count them
    row.state.incidents_over_rate += host->files.incidents_suppressed_untaken;
  }
  return rows;
}

WriterFigures Writer::figures() const {
  WriterFigures f;
  f.files = files_.counters();
  f.sync_errors = files_.sync_errors();
  f.journal_errors = journal_ ? journal_->errors() : 0;
  f.internal_errors = guard_.errors();
  for (const auto& [key, host] : hosts_)
    f.unwritten_bytes += host->files.pending.size() + (host->files.incident ? host->files.incident->pending.size() : 0);
  f.open_files = files_.open_files();
  f.disk = disk_.summary();
  for (const auto& forwarder : forwards_) f.forwards.emplace_back(forwarder->settings().name, forwarder->counters());
  return f;
}

}  // namespace lastgasp::daemon
