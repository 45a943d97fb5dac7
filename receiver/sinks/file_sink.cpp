#include "file_sink.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "notice.hpp"

namespace lastgasp::sinks {

namespace {

constexpr std::size_t kFlushEarlyBytes = 64 * 1024;     // a busy host writes before the tick
constexpr std::size_t kMaxIncidentContextBytes = 4u << 20;
constexpr std::size_t kKeepBufferCapacity = 4096;       // larger buffers go back after a flush
constexpr auto kErrorReportInterval = std::chrono::seconds(10);

std::string incident_file_name(wire::WallTime when, const std::string& label, int attempt) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::string name = std::string("incidents/") + stamp + "-" + label;
  if (attempt > 0) name += "." + std::to_string(attempt);
  return name + ".log";
}

void release_if_large(std::string& buffer) {
  if (buffer.empty() && buffer.capacity() > kKeepBufferCapacity) std::string().swap(buffer);
}

}  // namespace

FileSink::~FileSink() {
  flush();
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
  ++counters_.lines;
  if (host.incident) {
    host.incident->pending.append(host.pending, start);
    host.incident->last_activity = now;
  }
  mark_dirty(host);
  if (event.type == stream::EventType::incident) on_trigger(host, event, now);
  else if (event.type == stream::EventType::reboot && host.incident) close_incident(host);
  else if (host.pending.size() >= kFlushEarlyBytes) flush(host);
}

void FileSink::on_trigger(HostFiles& host, const stream::Event& event, wire::MonoTime now) {
  // An oops that turns into a panic gets a file of its own; more of the same goes on in the open one.
  bool worse = !host.incident || stream::severity(event.incident) > stream::severity(host.incident->kind);
  if (worse && host.incident) close_incident(host);
  flush(host);
  if (host.fd >= 0 && ::fdatasync(host.fd) != 0) report_write_error(host, kConsoleLog, errno);
  if (worse) open_incident(host, event, now);
}

void FileSink::open_incident(HostFiles& host, const stream::Event& event, wire::MonoTime now) {
  // The context is the log's own tail: the records before the trigger, the trigger, our line.
  std::string context;
  if (int in = dir_.open_read(host.name, kConsoleLog); in >= 0) {
    for (const std::string& line : read_last_lines(in, settings_.incident_context + 2, kMaxIncidentContextBytes))
      context += line + "\n";
    ::close(in);
  }
  int fd = create_incident_file(host, event, stream::incident_name(event.incident));
  if (fd < 0) return;
  if (write_all(fd, context.data(), context.size()) != context.size() || ::fdatasync(fd) != 0)
    report_write_error(host, "incidents/", errno);
  host.incident = std::make_unique<OpenIncident>(OpenIncident{fd, event.incident, now, {}});
  incidents_.push_back(&host);
}

// A new file in HOST/incidents/, named for the event's time and LABEL, never over an existing one.
int FileSink::create_incident_file(HostFiles& host, const stream::Event& event, const std::string& label) {
  int fd = -1;
  std::string file;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    file = incident_file_name(event.record.arrived.wall, label, attempt);
    fd = dir_.open_append(host.name, file, true);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) report_write_error(host, file, errno);
  else ++counters_.incident_files;
  return fd;
}

void FileSink::write_pstore(HostFiles& host, const stream::Event& event, const std::string& content,
                            wire::MonoTime now) {
  write(host, event, std::nullopt, now);
  flush(host);
  if (host.fd >= 0 && ::fdatasync(host.fd) != 0) report_write_error(host, kConsoleLog, errno);
  if (event.incident != stream::IncidentKind::panic) return;
  int fd = create_incident_file(host, event, "pstore-panic");
  if (fd < 0) return;
  if (write_all(fd, content.data(), content.size()) != content.size() || ::fdatasync(fd) != 0)
    report_write_error(host, "incidents/", errno);
  ::close(fd);
}

void FileSink::close_incident(HostFiles& host) {
  OpenIncident& incident = *host.incident;
  if (!incident.pending.empty() &&
      write_all(incident.fd, incident.pending.data(), incident.pending.size()) != incident.pending.size())
    report_write_error(host, "incidents/", errno);
  ::fdatasync(incident.fd);
  ::close(incident.fd);
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
  if (open_files_.size() >= settings_.max_open_files) close_file(*open_files_.back());
  host.fd = dir_.open_append(host.name, kConsoleLog);
  if (host.fd >= 0) {
    struct stat st {};
    host.size = ::fstat(host.fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    open_files_.push_front(&host);
    host.lru = open_files_.begin();
  }
  return host.fd;
}

void FileSink::close_file(HostFiles& host) {
  if (host.fd < 0) return;
  ::close(host.fd);
  host.fd = -1;
  open_files_.erase(host.lru);
}

void FileSink::flush(HostFiles& host) {
  host.dirty = false;
  if (host.dropped_lines) {
    // Say so in the log itself, as soon as it can be written again.
    stream::Event note;
    note.type = stream::EventType::gap;
    note.record.arrived.wall = std::chrono::system_clock::now();
    note.record.text = "lastgasp: lost " + std::to_string(host.dropped_lines) +
                       " lines: the log could not be written for a while";
    std::string line;
    append_log_line(line, note, std::nullopt, time_);
    host.pending.insert(0, line);
    host.dropped_lines = 0;
  }
  if (!host.pending.empty()) {
    rotate_if_full(host);
    int fd = descriptor(host);
    std::size_t written = fd < 0 ? 0 : write_all(fd, host.pending.data(), host.pending.size());
    int error = errno;
    host.size += written;
    host.pending.erase(0, written);
    if (!host.pending.empty()) {
      report_write_error(host, kConsoleLog, error);
      trim_pending(host);
      mark_dirty(host);  // retried on the next flush
    }
  }
  if (host.incident && !host.incident->pending.empty()) {
    OpenIncident& incident = *host.incident;
    std::size_t written = write_all(incident.fd, incident.pending.data(), incident.pending.size());
    if (written != incident.pending.size()) report_write_error(host, "incidents/", errno);
    incident.pending.clear();
  }
  release_if_large(host.pending);
}

// Rotation happens only here, between whole buffers of whole lines: a record is never split.
void FileSink::rotate_if_full(HostFiles& host) {
  if (settings_.rotate_size == 0 || descriptor(host) < 0 || host.size == 0 ||
      host.size + host.pending.size() <= settings_.rotate_size)
    return;
  close_file(host);
  if (dir_.rotate(host.name, kConsoleLog, settings_.rotate_keep)) ++counters_.rotations;
  else report_write_error(host, kConsoleLog, errno);
}

void FileSink::trim_pending(HostFiles& host) {
  while (host.pending.size() > settings_.max_pending_bytes) {
    auto newline = host.pending.find('\n');
    host.pending.erase(0, newline == std::string::npos ? host.pending.size() : newline + 1);
    ++host.dropped_lines;
    ++counters_.dropped_lines;
  }
}

void FileSink::report_write_error(const HostFiles& host, const std::string& file, int error) {
  ++counters_.write_errors;
  auto now = wire::MonoTime::clock::now();
  if (last_error_report_ != wire::MonoTime{} && now - last_error_report_ < kErrorReportInterval) return;
  last_error_report_ = now;
  notice(Severity::error, "cannot write " + host.name + "/" + file + ": " + std::strerror(error) + "; " +
                              std::to_string(host.pending.size()) + " bytes held, retrying");
}

void FileSink::flush() {
  std::vector<HostFiles*> dirty;
  dirty.swap(dirty_);
  for (HostFiles* host : dirty)
    if (host->dirty) flush(*host);
}

void FileSink::reopen() {
  flush();
  while (!open_files_.empty()) close_file(*open_files_.back());
}

void FileSink::forget(HostFiles& host) {
  flush(host);
  if (host.incident) close_incident(host);
  close_file(host);
  std::erase(dirty_, &host);
}

}  // namespace lastgasp::sinks
