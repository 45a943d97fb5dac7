// Per-host console logs and incident files.
//
// Lines are buffered per host and written in one write() per host per flush
// (the daemon flushes every few milliseconds), so a burst costs a syscall per
// host, not per record. A trigger (panic, oops, ...) is different: the host's
// log is written and fsynced at once, and an incident is opened with the
// records before it, read back from the log itself, so that no host pays
// memory for context it may never need.
//
// The incident's file is made at the next flush, within a few milliseconds of
// file creations per flush: when a whole fleet panics at once, thousands of
// creations would otherwise hold up every other host's lines for seconds.
// Until its file exists an incident keeps its lines in memory, all such
// incidents together at most kMaxDeferredBytes; past that, files are made at
// once.
//
// Opening (or creating) a host's console.log is not done here at all but by
// the OpenWorker's thread: a host whose log is not open waits, its lines and
// triggers in order, until a flush finds its descriptor ready. Hosts whose
// logs are open are written at every flush meanwhile, so a thousand new hosts
// arriving at once never hold up the others. A log closed to make room is
// reopened here, by name: it exists, and an open that creates nothing is
// cheap, where waiting behind a storm of new hosts would not be. A new host's
// log is opened here only when it must be written now (a pstore upload, the
// host let go, its waiting lines past max_pending_bytes, the end).
//
// What a sender can make this sink do is bounded: new incident files per host
// by a token bucket (an oops that turns into a panic always gets its file),
// each incident file by a size, and log and incident files together by one
// descriptor budget (the least recently used is closed, and reopened by name
// when next needed).
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "disk_quota.hpp"
#include "log_directory.hpp"
#include "log_line.hpp"
#include "open_worker.hpp"
#include "sync_worker.hpp"
#include "stream/event.hpp"

namespace lastgasp::sinks {

// What opened an incident, for those told when its file is made (hooks).
struct IncidentCause {
  std::string line;                   // the trigger's text, escaped as in the log
  std::optional<std::uint64_t> seq;   // the trigger's
  std::uint64_t boot = 0;             // the host's boot count then
};

struct OpenIncident {
  wire::WallTime opened{};  // names the file
  std::string label;        // names the file: the kind, or pstore-panic
  std::string file;         // under the host's directory; empty until it could be created
  int fd = -1;       // -1 while closed to make room; reopened by name
  stream::IncidentKind kind = stream::IncidentKind::warning;
  wire::MonoTime last_activity{};
  std::uint64_t size = 0;  // bytes written and pending
  bool full = false;       // reached incident_max_size: the rest is in console.log only
  bool deferred = false;   // its file is still to be made, at a flush
  std::string pending;
  IncidentCause cause;
};

// An incident file just made, its first lines (the context and the trigger) written.
struct MadeIncident {
  std::string host;
  std::string file;  // under the host's directory
  wire::WallTime opened{};  // when its trigger arrived
  stream::IncidentKind kind = stream::IncidentKind::warning;
  IncidentCause cause;
};

// One host's output state. Owned by the host; the sink keeps pointers to it in
// its dirty and open-file lists, so a host must be forgotten before it dies.
// What came for a host while it waited for its log to be opened, done once it is, in order.
struct WaitingAction {
  stream::EventType type;  // incident (a trigger) or reboot
  stream::IncidentKind kind;
  wire::WallTime when;
  wire::MonoTime now;
  std::size_t offset;  // in the host's pending lines, just after the event's own line
  IncidentCause cause;  // of a trigger
};

struct HostFiles {
  explicit HostFiles(std::string host_name) : name(std::move(host_name)) {}
  std::string name;  // the directory under LOG_DIR
  std::string pending;
  int fd = -1;
  std::uint64_t size = 0;  // of console.log, while open
  std::list<HostFiles*>::iterator lru{};
  bool dirty = false;
  std::uint64_t dropped_lines = 0;  // lines given up on after write errors, still to be reported
  // Since the owner last took them (for its per-host figures): lines lost to write errors,
  // triggers past the incident rate.
  std::uint64_t lines_lost_untaken = 0;
  std::uint64_t incidents_suppressed_untaken = 0;
  std::unique_ptr<OpenIncident> incident;
  double incident_tokens = -1;  // new incident files it may open now; -1 until its first trigger
  wire::MonoTime incident_tokens_at{};
  bool waiting = false;  // for its log to be opened, on the sink's waiting list
  std::uint64_t open_ticket = 0;  // of its request to the opener, while waiting
  bool opened_before = false;  // its log exists: reopened here when closed to make room, cheaply
  std::vector<WaitingAction> actions;  // while waiting
  wire::MonoTime last_write{};  // the NOW of its last line
  std::uint64_t boot = 0;       // the host's boot count, kept by its owner: in what made_incidents() says
};

struct FileSinkSettings {
  unsigned incident_context = 200;
  std::chrono::seconds incident_quiet{30};
  unsigned max_open_files = 1024;  // log and incident files together
  unsigned incident_burst = 5;                  // new incident files a host may open at once...
  std::chrono::seconds incident_refill{60};     // ...and one more each this often
  std::uint64_t incident_max_size = 4u << 20;   // bytes in one incident file, context included
  std::size_t max_pending_bytes = 16u << 20;  // per host, while writes fail
  std::uint64_t rotate_size = 0;              // 0: never rotate
  unsigned rotate_keep = 5;
};

struct FileSinkCounters {
  std::uint64_t write_errors = 0;
  std::uint64_t dropped_lines = 0;         // lost to write errors that went on too long
  std::uint64_t incidents_suppressed = 0;  // triggers past a host's incident rate
  std::uint64_t incident_bytes_cut = 0;    // bytes of lines left out of incident files at incident_max_size
};

class FileSink {
 public:
  FileSink(const LogDirectory& dir, FileSinkSettings settings)
      : dir_(dir), settings_(settings), sync_(dir), opener_(dir) {}
  // New settings take effect from the next write (SIGHUP).
  void configure(FileSinkSettings settings) { settings_ = settings; }
  ~FileSink();
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  void write(HostFiles& host, const stream::Event& event, std::optional<std::uint16_t> src_port, wire::MonoTime now);
  // Writes the buffered lines of every host whose log is open, and asks the opener for the others.
  void flush();
  // Whether a later flush has work left: a host's log still being opened (its lines wait for it),
  // or incident files past this flush's time budget.
  bool behind() const { return !waiting_.empty() || !deferred_.empty(); }
  // Writes EVENT (a pstore line) and, for a panic record, an incident file holding CONTENT: its
  // name under the host's directory is returned ("" for none).
  std::string write_pstore(HostFiles& host, const stream::Event& event, const std::string& content, wire::MonoTime now);
  // Closes incidents whose host has been quiet long enough.
  void close_quiet_incidents(wire::MonoTime now);
  // Closes every file (SIGHUP, after rotation by another tool); they reopen on the next write.
  void reopen();
  std::uint64_t open_files() const { return open_files_.size() + open_incident_fds_; }
  // For a quiet HOST with nothing pending: gives back its line buffer. Returns the bytes let go.
  std::size_t compact(HostFiles& host) {
    if (!host.pending.empty()) return 0;
    std::size_t held = host.pending.capacity();
    std::string().swap(host.pending);
    return held - host.pending.capacity();
  }
  // Writes what HOST holds now, opening its log here if the opener has not yet.
  void flush_now(HostFiles& host);
  // Flushes and closes HOST's files and drops every pointer to it.
  void forget(HostFiles& host);

  const FileSinkCounters& counters() const { return counters_; }
  // The incident files made since the last call (not pstore records' copies: write_pstore names those).
  std::vector<MadeIncident> take_made_incidents() { return std::exchange(made_, {}); }

  // The disk quota's last resort: HOST's current log is renamed away, as by rotation.
  void rotate_away(const std::string& host);
  // What was written since the last call, for the disk worker.
  DiskGrowth take_growth();
  std::uint64_t bytes_since_taken() const { return growth_.total; }
  // The incident files being written, as "host/incidents/x.log": the quota leaves them be.
  std::set<std::string> open_incident_files() const;
  // fdatasync calls that failed: what they covered may not be durable.
  std::uint64_t sync_errors() const { return sync_.errors(); }

 private:
  void flush(HostFiles& host);
  int descriptor(HostFiles& host);
  int incident_descriptor(HostFiles& host);
  void make_room();
  void close_file(HostFiles& host);
  bool take_incident_token(HostFiles& host, wire::MonoTime now);
  void append_incident(OpenIncident& incident, std::string_view lines);
  void flush_incident(HostFiles& host);
  void trim_pending(HostFiles& host);
  void rotate_if_full(HostFiles& host);
  void grew(const HostFiles& host, std::uint64_t bytes);
  void on_trigger(HostFiles& host, stream::IncidentKind kind, wire::WallTime when, wire::MonoTime now,
                  IncidentCause cause);
  void open_incident(HostFiles& host, stream::IncidentKind kind, wire::WallTime when, wire::MonoTime now,
                     IncidentCause cause);
  void made(const HostFiles& host, const OpenIncident& incident);
  void adopt(HostFiles& host, int fd, std::uint64_t size);
  void wait_for_log(HostFiles& host);
  void take_opened();
  void open_now(HostFiles& host);
  void settle(HostFiles& host);
  int create_incident_file(HostFiles& host, wire::WallTime when, const std::string& label, std::string& file);
  void close_incident(HostFiles& host);
  void make_deferred(bool all);
  void make_now(HostFiles& host, std::unique_ptr<OpenIncident> closed);
  void write_closed_incident(HostFiles& host, OpenIncident& incident);
  void mark_dirty(HostFiles& host);
  void report_write_error(const HostFiles& host, const std::string& file, int error);
  std::string own_line(std::string text);

  const LogDirectory& dir_;
  FileSinkSettings settings_;
  TimeFormatter time_;
  std::vector<HostFiles*> dirty_;
  std::list<HostFiles*> open_files_;  // most recently used first
  std::vector<HostFiles*> incidents_;
  // Incidents whose file is still to be made, oldest first: the host's open one (CLOSED null),
  // or one closed since, which the entry owns.
  struct Deferred {
    HostFiles* host;
    std::unique_ptr<OpenIncident> closed;
  };
  std::deque<Deferred> deferred_;
  std::unordered_map<std::uint64_t, HostFiles*> waiting_;  // hosts whose log the opener opens, by ticket
  std::uint64_t next_ticket_ = 0;
  std::uint64_t deferred_bytes_ = 0;
  unsigned open_incident_fds_ = 0;
  FileSinkCounters counters_;
  std::vector<MadeIncident> made_;
  DiskGrowth growth_;
  SyncWorker sync_;
  OpenWorker opener_;
  wire::MonoTime last_error_report_{};
};

}  // namespace lastgasp::sinks
