#include "file_sink.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "notice.hpp"
#include "numbers.hpp"
#include "utc_time.hpp"

namespace lastgasp::sinks {

namespace {

constexpr std::size_t kFlushEarlyBytes = 64 * 1024;     // a busy host writes before the tick
constexpr std::size_t kMaxIncidentContextBytes = 4u << 20;
constexpr std::size_t kKeepBufferCapacity = 4096;       // larger buffers go back after a flush
constexpr std::uint64_t kMaxDeferredBytes = 32u << 20;   // lines of incidents whose file is still to be made
constexpr auto kDeferredBudget = std::chrono::milliseconds(10);  // of incident file creation per flush
constexpr auto kErrorReportInterval = std::chrono::seconds(10);

std::string incident_file_name(wire::WallTime when, const std::string& label, int attempt) {
  std::string stamp = format_utc(std::chrono::system_clock::to_time_t(when), "%Y%m%dT%H%M%SZ");
  std::string name = "incidents/" + stamp + "-" + label;
  if (attempt > 0) name += "." + std::to_string(attempt);
  return name + ".log";
}

// A host with lines to write whose log is with the opener, or was never opened: a new host's log
// is opened off the writer; one opened before reopens here, as that costs no creation.
bool awaits_log(const HostFiles& host) {
  return host.waiting || (host.fd < 0 && !host.opened_before && !host.pending.empty());
}

void release_if_large(std::string& buffer) {
  if (buffer.empty() && buffer.capacity() > kKeepBufferCapacity) std::string().swap(buffer);
}

IncidentCause cause_of(const stream::Event& incident, std::uint64_t boot) {
  IncidentCause cause{std::string(stream::trigger_of(incident.incident, incident.record.text)), std::nullopt, boot};
  if (auto seq = incident.record.field("trigger_seq")) cause.seq = parse_number<std::uint64_t>(*seq);
  return cause;
}

}  // namespace

FileSink::~FileSink() {
  flush();
  take_opened();
  while (!waiting_.empty()) open_now(*waiting_.begin()->second);
  make_deferred(true);
  while (!incidents_.empty()) close_incident(*incidents_.back());
  while (!open_files_.empty()) close_file(*open_files_.back());
}

void FileSink::mark_dirty(HostFiles& host) {
  if (host.dirty) return;
  host.dirty = true;
  dirty_.push_back(&host);
}

void FileSink::write(HostFiles& host, const stream::Event& event, std::optional<std::uint16_t> src_port,
                     wire::MonoTime now) {
  std::size_t start = host.pending.size();
  append_log_line(host.pending, event, src_port, time_);
  host.last_write = now;
  mark_dirty(host);
  if (awaits_log(host)) {  // what it needs waits with it for its log
    if (event.type == stream::EventType::incident)
      host.actions.push_back({event.type, event.incident, event.record.arrived.wall, now, host.pending.size(),
                              cause_of(event, host.boot)});
    else if (event.type == stream::EventType::reboot)
      host.actions.push_back({event.type, event.incident, event.record.arrived.wall, now, host.pending.size(), {}});
    wait_for_log(host);
    if (host.pending.size() > settings_.max_pending_bytes) open_now(host);  // the opener is far behind
    return;
  }
  if (host.incident) {
    append_incident(*host.incident, std::string_view(host.pending).substr(start));
    host.incident->last_activity = now;
  }
  if (event.type == stream::EventType::incident)
    on_trigger(host, event.incident, event.record.arrived.wall, now, cause_of(event, host.boot));
  else if (event.type == stream::EventType::reboot && host.incident) close_incident(host);
  else if (host.pending.size() >= kFlushEarlyBytes) flush(host);
}

void FileSink::wait_for_log(HostFiles& host) {
  if (host.waiting) return;
  host.waiting = true;
  host.open_ticket = ++next_ticket_;
  waiting_.emplace(host.open_ticket, &host);
  opener_.open({host.open_ticket, host.name, kConsoleLog});
}

// Takes the logs the opener has opened: each host's lines are written and its triggers and
// reboots done, in the order they came. Each result has its host waiting: a host stops waiting
// only here or in open_now, which withdraws its request.
void FileSink::take_opened() {
  for (const OpenWorker::Opened& opened : opener_.take()) {
    auto waiting = waiting_.extract(opened.ticket);
    HostFiles& host = *waiting.mapped();
    if (opened.fd >= 0) adopt(host, opened.fd, opened.size);
    settle(host);  // on failure its flush tries again here, reports, and the host waits anew
  }
}

// HOST's log opened here and now, not by the opener, and what it held written.
void FileSink::open_now(HostFiles& host) {
  waiting_.erase(host.open_ticket);
  std::optional<OpenWorker::Opened> opened = opener_.withdraw(host.open_ticket);
  if (opened && opened->fd >= 0) adopt(host, opened->fd, opened->size);
  settle(host);
}

// Writes what HOST held while it waited, in the pieces between its triggers and reboots, each
// piece also to the incident open then: as if each line had been written when it came.
void FileSink::settle(HostFiles& host) {
  host.waiting = false;
  const std::string lines = std::exchange(host.pending, {});
  std::size_t done = 0;
  auto write_up_to = [&](std::size_t end) {
    std::string_view piece = std::string_view(lines).substr(done, end - done);
    done = end;
    host.pending.append(piece);
    if (host.incident && !piece.empty()) {
      append_incident(*host.incident, piece);
      host.incident->last_activity = host.last_write;
    }
    flush(host);
  };
  for (WaitingAction& a : std::exchange(host.actions, {})) {
    write_up_to(a.offset);
    if (a.type == stream::EventType::incident) on_trigger(host, a.kind, a.when, a.now, std::move(a.cause));
    else if (host.incident) close_incident(host);
  }
  write_up_to(lines.size());
}

void FileSink::on_trigger(HostFiles& host, stream::IncidentKind kind, wire::WallTime when, wire::MonoTime now,
                          IncidentCause cause) {
  // An oops that turns into a panic gets a file of its own; more of the same goes on in the open one.
  // A host with no incident open pays a token for a new one: a sender that "reboots" and panics
  // a hundred times a second gets a few files and its lines in console.log, not a hundred fsyncs.
  bool escalates = host.incident && stream::severity(kind) > stream::severity(host.incident->kind);
  if (host.incident && !escalates) return;
  if (!host.incident && !take_incident_token(host, now)) {
    ++counters_.incidents_suppressed;
    ++host.incidents_suppressed_untaken;
    return;
  }
  if (escalates) close_incident(host);
  flush(host);
  sync_.sync(host.fd, host.name, kConsoleLog);
  open_incident(host, kind, when, now, std::move(cause));
}

bool FileSink::take_incident_token(HostFiles& host, wire::MonoTime now) {
  const double burst = settings_.incident_burst;
  if (host.incident_tokens < 0) host.incident_tokens = burst;
  std::chrono::duration<double> since = now - host.incident_tokens_at;
  host.incident_tokens_at = now;
  host.incident_tokens = std::min(burst, host.incident_tokens + since / settings_.incident_refill);
  if (host.incident_tokens < 1) return false;
  host.incident_tokens -= 1;
  return true;
}

void FileSink::open_incident(HostFiles& host, stream::IncidentKind kind, wire::WallTime when, wire::MonoTime now,
                             IncidentCause cause) {
  // The context is the log's own tail: the records before the trigger, the trigger, our line.
  std::string context;
  if (int in = dir_.open_read(host.name, kConsoleLog); in >= 0) {
    auto max_bytes = std::min<std::uint64_t>(kMaxIncidentContextBytes, settings_.incident_max_size);
    for (const std::string& line : read_last_lines(in, settings_.incident_context + 2, max_bytes))
      context += line + "\n";
    ::close(in);
  }
  host.incident = std::make_unique<OpenIncident>();
  OpenIncident& incident = *host.incident;
  incident.opened = when;
  incident.label = stream::incident_name(kind);
  incident.kind = kind;
  incident.last_activity = now;
  incident.cause = std::move(cause);
  append_incident(incident, context);
  incidents_.push_back(&host);
  if (deferred_bytes_ + incident.pending.size() <= kMaxDeferredBytes) {
    incident.deferred = true;
    deferred_bytes_ += incident.pending.size();
    deferred_.push_back({&host, nullptr});
    return;
  }
  // Written now and made durable: the host may be gone in a moment. What cannot be written
  // (a full disk) stays pending, and the next flush tries again.
  flush_incident(host);
  sync_.sync(incident.fd, host.name, incident.file);
}

// Makes the deferred incidents' files, oldest first: within the budget, or ALL of them.
void FileSink::make_deferred(bool all) {
  const auto start = std::chrono::steady_clock::now();
  while (!deferred_.empty() &&
         (all || deferred_bytes_ > kMaxDeferredBytes || std::chrono::steady_clock::now() - start < kDeferredBudget)) {
    Deferred next = std::move(deferred_.front());
    deferred_.pop_front();
    make_now(*next.host, std::move(next.closed));
  }
}

// Makes HOST's deferred incident file: CLOSED if given, else its open incident.
void FileSink::make_now(HostFiles& host, std::unique_ptr<OpenIncident> closed) {
  OpenIncident& incident = closed ? *closed : *host.incident;
  incident.deferred = false;
  deferred_bytes_ -= std::min<std::uint64_t>(deferred_bytes_, incident.pending.size());
  if (closed) return write_closed_incident(host, incident);
  flush_incident(host);
  sync_.sync(incident.fd, host.name, incident.file);
}

// An incident closed before its file was made: made, written, synced and closed in one go.
void FileSink::write_closed_incident(HostFiles& host, OpenIncident& incident) {
  int fd = create_incident_file(host, incident.opened, incident.label, incident.file);
  if (fd < 0) return;
  std::size_t written = write_all(fd, incident.pending.data(), incident.pending.size());
  if (written != incident.pending.size()) report_write_error(host, incident.file, errno);
  grew(host, written);
  sync_.sync(fd, host.name, incident.file);
  ::close(fd);
  made(host, incident);
}

void FileSink::made(const HostFiles& host, const OpenIncident& incident) {
  made_.push_back({host.name, incident.file, incident.opened, incident.kind, incident.cause});
}

// Keeps LINES for the incident file; past incident_max_size, one line says the rest is in console.log.
void FileSink::append_incident(OpenIncident& incident, std::string_view lines) {
  if (!incident.full && incident.size + lines.size() <= settings_.incident_max_size) {
    incident.pending.append(lines);
    incident.size += lines.size();
    if (incident.deferred) deferred_bytes_ += lines.size();
    return;
  }
  counters_.incident_bytes_cut += lines.size();
  if (incident.full) return;
  incident.full = true;
  incident.pending += own_line("lastgasp: incident_max_size reached: the rest is in console.log only");
}

// A new file in HOST/incidents/, named for WHEN and LABEL, never over an existing one; FILE gets its name.
int FileSink::create_incident_file(HostFiles& host, wire::WallTime when, const std::string& label,
                                   std::string& file) {
  int fd = -1;
  std::string name;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    name = incident_file_name(when, label, attempt);
    fd = dir_.open_append(host.name, name, true);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) report_write_error(host, name, errno);
  else file = name;
  return fd;
}

int FileSink::incident_descriptor(HostFiles& host) {
  OpenIncident& incident = *host.incident;
  if (incident.fd >= 0) return incident.fd;
  make_room();
  incident.fd = incident.file.empty() ? create_incident_file(host, incident.opened, incident.label, incident.file)
                                      : dir_.open_append(host.name, incident.file);
  if (incident.fd >= 0) ++open_incident_fds_;
  return incident.fd;
}

void FileSink::flush_incident(HostFiles& host) {
  OpenIncident& incident = *host.incident;
  if (incident.pending.empty() || incident.deferred) return;
  bool creating = incident.file.empty();
  int fd = incident_descriptor(host);
  std::size_t written = fd < 0 ? 0 : write_all(fd, incident.pending.data(), incident.pending.size());
  int error = errno;
  incident.pending.erase(0, written);
  grew(host, written);
  if (creating && !incident.file.empty()) made(host, incident);
  if (incident.pending.empty()) return;
  report_write_error(host, incident.file.empty() ? "incidents/" : incident.file, error);
  mark_dirty(host);  // retried on the next flush
}

std::string FileSink::write_pstore(HostFiles& host, const stream::Event& event, const std::string& content,
                                   wire::MonoTime now) {
  write(host, event, std::nullopt, now);
  if (host.waiting) open_now(host);  // an upload is rare, and its line is to be durable now
  flush(host);
  sync_.sync(host.fd, host.name, kConsoleLog);
  if (event.incident != stream::IncidentKind::panic) return "";
  std::string file;
  int fd = create_incident_file(host, event.record.arrived.wall, "pstore-panic", file);
  if (fd < 0) return "";
  if (write_all(fd, content.data(), content.size()) != content.size()) report_write_error(host, file, errno);
  sync_.sync(fd, host.name, file);
  ::close(fd);
  return file;
}

void FileSink::close_incident(HostFiles& host) {
  OpenIncident& incident = *host.incident;
  if (incident.deferred) {  // its entry takes it over, and makes its file in turn
    auto entry = std::find_if(deferred_.begin(), deferred_.end(), [&](const Deferred& d) { return d.host == &host && !d.closed; });
    entry->closed = std::move(host.incident);
    std::erase(incidents_, &host);
    return;
  }
  flush_incident(host);
  if (incident.fd >= 0) {
    sync_.sync(incident.fd, host.name, incident.file);
    ::close(incident.fd);
    --open_incident_fds_;
  }
  host.incident.reset();
  std::erase(incidents_, &host);
}

void FileSink::close_quiet_incidents(wire::MonoTime now) {
  for (std::size_t i = 0; i < incidents_.size();) {
    HostFiles& host = *incidents_[i];
    if (now - host.incident->last_activity >= settings_.incident_quiet) close_incident(host);  // erases [i]
    else ++i;
  }
}

int FileSink::descriptor(HostFiles& host) {
  if (host.fd >= 0) {
    open_files_.splice(open_files_.begin(), open_files_, host.lru);
    return host.fd;
  }
  make_room();
  int fd = dir_.open_append(host.name, kConsoleLog);
  if (fd >= 0) {
    struct stat st {};
    adopt(host, fd, ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0);
  }
  return host.fd;
}

// FD, of SIZE bytes, becomes HOST's open log, the most recently used.
void FileSink::adopt(HostFiles& host, int fd, std::uint64_t size) {
  make_room();
  host.fd = fd;
  host.size = size;
  host.opened_before = true;
  open_files_.push_front(&host);
  host.lru = open_files_.begin();
}

// Log and incident files share one descriptor budget: the least recently used log goes first,
// then the incident quiet longest. Either reopens by name when next written.
void FileSink::make_room() {
  while (open_files_.size() + open_incident_fds_ >= settings_.max_open_files) {
    if (!open_files_.empty()) {
      close_file(*open_files_.back());
      continue;
    }
    OpenIncident* quietest = nullptr;
    for (HostFiles* host : incidents_) {
      OpenIncident* incident = host->incident.get();
      if (incident->fd >= 0 && (!quietest || incident->last_activity < quietest->last_activity)) quietest = incident;
    }
    if (!quietest) return;
    ::close(quietest->fd);
    quietest->fd = -1;
    --open_incident_fds_;
  }
}

void FileSink::close_file(HostFiles& host) {
  if (host.fd < 0) return;
  ::close(host.fd);
  host.fd = -1;
  open_files_.erase(host.lru);
}

void FileSink::flush(HostFiles& host) {
  host.dirty = false;
  if (host.waiting) return;  // written once its log is open
  if (host.dropped_lines) {
    // Say so in the log itself, as soon as it can be written again.
    host.pending.insert(0, own_line("lastgasp: lost " + std::to_string(host.dropped_lines) +
                                    " lines: the log could not be written for a while"));
    host.dropped_lines = 0;
  }
  if (!host.pending.empty()) {
    rotate_if_full(host);
    int fd = descriptor(host);
    std::size_t written = fd < 0 ? 0 : write_all(fd, host.pending.data(), host.pending.size());
    int error = errno;
    host.size += written;
    host.pending.erase(0, written);
    grew(host, written);
    if (!host.pending.empty()) {
      report_write_error(host, kConsoleLog, error);
      trim_pending(host);
      mark_dirty(host);  // retried on the next flush
    }
  }
  if (host.incident) flush_incident(host);
  release_if_large(host.pending);
}

// Rotation happens only here, between whole buffers of whole lines: a record is never split.
void FileSink::rotate_if_full(HostFiles& host) {
  if (settings_.rotate_size == 0 || descriptor(host) < 0 || host.size == 0 ||
      host.size + host.pending.size() <= settings_.rotate_size)
    return;
  close_file(host);
  if (!dir_.rotate(host.name, kConsoleLog, settings_.rotate_keep)) report_write_error(host, kConsoleLog, errno);
  growth_.rotated.insert(host.name);
}

void FileSink::rotate_away(const std::string& name) {
  auto open = std::find_if(open_files_.begin(), open_files_.end(), [&](HostFiles* h) { return h->name == name; });
  if (open != open_files_.end()) close_file(**open);
  if (dir_.rotate(name, kConsoleLog, settings_.rotate_keep)) growth_.rotated.insert(name);
  else report_write_error(HostFiles(name), kConsoleLog, errno);
}

void FileSink::grew(const HostFiles& host, std::uint64_t bytes) {
  if (bytes == 0) return;
  growth_.bytes[host.name] += bytes;
  growth_.total += bytes;
}

DiskGrowth FileSink::take_growth() { return std::exchange(growth_, {}); }

std::set<std::string> FileSink::open_incident_files() const {
  std::set<std::string> files;
  for (const HostFiles* host : incidents_)
    if (!host->incident->file.empty()) files.insert(host->name + "/" + host->incident->file);
  return files;
}

void FileSink::trim_pending(HostFiles& host) {
  while (host.pending.size() > settings_.max_pending_bytes) {
    auto newline = host.pending.find('\n');
    host.pending.erase(0, newline == std::string::npos ? host.pending.size() : newline + 1);
    ++host.dropped_lines;
    ++host.lines_lost_untaken;
    ++counters_.dropped_lines;
  }
}

// A line of the receiver's own, as of now.
std::string FileSink::own_line(std::string text) {
  stream::Event note;
  note.type = stream::EventType::gap;
  note.record.arrived.wall = std::chrono::system_clock::now();
  note.record.text = std::move(text);
  std::string line;
  append_log_line(line, note, std::nullopt, time_);
  return line;
}

void FileSink::report_write_error(const HostFiles& host, const std::string& file, int error) {
  ++counters_.write_errors;
  auto now = wire::MonoTime::clock::now();
  if (last_error_report_ != wire::MonoTime{} && now - last_error_report_ < kErrorReportInterval) return;
  last_error_report_ = now;
  notice(Severity::error, "cannot write " + host.name + "/" + file + ": " + std::strerror(error) + "; " +
                              std::to_string(host.pending.size()) + " bytes held, retrying");
}

// The hosts whose logs the opener has opened since, then every host whose log is open; those
// whose log is not are handed to the opener. Then, as time allows, incident files made.
void FileSink::flush() {
  take_opened();
  std::vector<HostFiles*> dirty;
  dirty.swap(dirty_);
  for (HostFiles* host : dirty) {
    if (!host->dirty) continue;
    if (awaits_log(*host)) {
      host->dirty = false;
      wait_for_log(*host);
    } else {
      flush(*host);
    }
  }
  make_deferred(false);
}

void FileSink::reopen() {
  flush();
  while (!open_files_.empty()) close_file(*open_files_.back());
}

void FileSink::flush_now(HostFiles& host) {
  if (host.waiting) open_now(host);
  flush(host);
}

void FileSink::forget(HostFiles& host) {
  flush_now(host);
  for (auto it = deferred_.begin(); it != deferred_.end();) {  // nothing may point at it after
    if (it->host != &host) {
      ++it;
      continue;
    }
    Deferred entry = std::move(*it);
    it = deferred_.erase(it);
    make_now(host, std::move(entry.closed));
  }
  if (host.incident) close_incident(host);
  close_file(host);
  std::erase(dirty_, &host);
}

}  // namespace lastgasp::sinks
