#include "metrics.hpp"

#include <cstdio>

#include "stream/incident.hpp"
#include "wire/decoder.hpp"
#include "wire/escape.hpp"

namespace lastgasp::daemon {

namespace {

struct Label {
  std::string_view name;
  std::string_view value;
};

// One metric family at a time: its HELP and TYPE, then its samples, as the format wants
// them (a family's samples together, after its metadata).
class Exposition {
 public:
  Exposition& family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    return *this;
  }
  Exposition& sample(std::initializer_list<Label> labels, std::uint64_t value) {
    return sample(labels, std::to_string(value));
  }
  Exposition& sample(std::uint64_t value) { return sample({}, value); }
  Exposition& sample(std::initializer_list<Label> labels, const std::string& value) {
    out_.append(name_);
    if (labels.size()) {
      char separator = '{';
      for (const Label& l : labels) {
        out_.push_back(separator);
        out_.append(l.name).append("=\"").append(label_value(l.value)).append("\"");
        separator = ',';
      }
      out_.push_back('}');
    }
    out_.append(" ").append(value).append("\n");
    return *this;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string name_;
};

std::string seconds(std::int64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", static_cast<double>(us) / 1e6);
  return text;
}

template <class Value>
void per_host(Exposition& e, const MetricsInput& in, std::string_view name, std::string_view type,
              std::string_view help, Value value) {
  e.family(name, type, help);
  for (const auto& [host, state] : in.hosts) e.sample({{"host", host}}, value(state));
}

void host_series(Exposition& e, const MetricsInput& in) {
  using S = hosts::HostState;
  per_host(e, in, "lastgasp_host_records_total", "counter", "Kernel records received from the host.",
           [](const S& s) { return s.records; });
  per_host(e, in, "lastgasp_host_record_bytes_total", "counter", "Bytes of record text received from the host.",
           [](const S& s) { return s.bytes; });
  per_host(e, in, "lastgasp_host_gaps_total", "counter", "Gaps in the host's sequence numbers.",
           [](const S& s) { return s.gaps; });
  per_host(e, in, "lastgasp_host_records_lost_total", "counter", "Records of the host that never arrived.",
           [](const S& s) { return s.lost; });
  per_host(e, in, "lastgasp_host_reboots_total", "counter", "Reboots of the host seen by the receiver.",
           [](const S& s) { return s.boots - 1; });
  per_host(e, in, "lastgasp_host_panics_total", "counter",
           "Kernel panics of the host, live or from a pstore record.", [](const S& s) { return s.panics; });
  per_host(e, in, "lastgasp_host_incidents_total", "counter",
           "Incidents of the host other than panics (warnings, hung tasks, lockups, oopses).",
           [](const S& s) { return s.incidents; });
  per_host(e, in, "lastgasp_host_pstore_records_total", "counter", "pstore records uploaded by the host.",
           [](const S& s) { return s.pstore_records; });
  e.family("lastgasp_host_dropped_total", "counter", "What the receiver dropped of the host's, by reason.");
  for (const auto& [host, s] : in.hosts)
    e.sample({{"host", host}, {"reason", "ports_over_cap"}}, s.ports_over_cap)
        .sample({{"host", host}, {"reason", "incidents_over_rate"}}, s.incidents_over_rate)
        .sample({{"host", host}, {"reason", "lines_lost"}}, s.lines_lost);
  per_host(e, in, "lastgasp_host_last_record_timestamp_seconds", "gauge",
           "When the host's last record arrived, in seconds since the epoch.",
           [](const S& s) { return seconds(s.last_seen_us); });
  e.family("lastgasp_host_state", "gauge", "1 for the host's state: live, silent (past silent_after_s) or panicked.");
  for (const auto& [host, s] : in.hosts) {
    std::string_view now = tail::host_condition(s, in.now_us, in.silent_after_us);
    for (std::string_view state : {"live", "silent", "panicked"})
      e.sample({{"host", host}, {"state", state}}, now == state ? 1 : 0);
  }
}

void sequence_series(Exposition& e, const MetricsInput& in) {
  const auto& q = in.figures.shards.counters.sequence;
  e.family("lastgasp_records_total", "counter", "Kernel records received from all hosts.").sample(q.records);
  e.family("lastgasp_gaps_total", "counter", "Gaps in sequence numbers, all hosts.").sample(q.gaps);
  e.family("lastgasp_records_lost_total", "counter", "Records that never arrived, all hosts.").sample(q.lost);
  e.family("lastgasp_duplicate_records_total", "counter", "Records received twice, all hosts.").sample(q.duplicates);
  e.family("lastgasp_reboots_total", "counter", "Reboots seen, all hosts.").sample(q.reboots);
  e.family("lastgasp_incidents_total", "counter", "Incidents detected live, all hosts, by kind.");
  for (std::size_t k = 0; k < q.incidents.size(); ++k)
    e.sample({{"kind", stream::incident_name(static_cast<stream::IncidentKind>(k))}}, q.incidents[k]);
}

void refusal_series(Exposition& e, const MetricsInput& in) {
  const ShardFigures& s = in.figures.shards;
  const WriterFigures& w = in.figures.writer;
  e.family("lastgasp_malformed_total", "counter", "Datagrams or parts of them not taken as well-formed, by reason.");
  const auto& m = s.counters.wire.malformed;
  for (std::size_t i = 0; i < m.size(); ++i) e.sample({{"reason", wire::kMalformedNames[i]}}, m[i]);
  e.family("lastgasp_datagrams_dropped_total", "counter", "Datagrams dropped unread, by reason.")
      .sample({{"reason", "max_hosts"}}, s.hosts_refused)
      .sample({{"reason", "new_hosts_per_second"}}, s.new_hosts_limited)
      .sample({{"reason", "max_streams_per_host"}}, s.streams_refused)
      .sample({{"reason", "allow"}}, s.not_allowed)
      .sample({{"reason", "host_loading"}}, s.waiting_dropped);
  e.family("lastgasp_records_dropped_total", "counter", "Records received but never written, by reason.")
      .sample({{"reason", "write_errors"}}, w.files.dropped_lines)
      .sample({{"reason", "writer_behind"}}, in.writer_behind);
  e.family("lastgasp_incidents_suppressed_total", "counter", "Triggers that got no incident file (incident_burst).")
      .sample(w.files.incidents_suppressed);
  e.family("lastgasp_tcp_connections_refused_total", "counter", "TCP connections turned away, by reason.")
      .sample({{"reason", "allow"}}, in.tcp.refused)
      .sample({{"reason", "busy"}}, in.tcp.busy);
  e.family("lastgasp_pstore_uploads_refused_total", "counter", "pstore uploads refused, by reason.")
      .sample({{"reason", "upload_memory"}}, in.upload_refusals)
      .sample({{"reason", "quota"}}, in.pstore_over_quota);
  e.family("lastgasp_http_requests_refused_total", "counter", "HTTP connections or requests refused, by reason.")
      .sample({{"reason", "busy"}}, in.http.busy)
      .sample({{"reason", "unauthorized"}}, in.http.unauthorized)
      .sample({{"reason", "bad_request"}}, in.http.bad);
}

// One series per [[forward]] table, labelled by its name.
void forward_series(Exposition& e, const MetricsInput& in) {
  const auto& forwards = in.figures.writer.forwards;
  auto each = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    e.family(name, type, help);
    for (const auto& [forward, f] : forwards) e.sample({{"forward", forward}}, value(f));
  };
  using F = forward::ForwardCounters;
  each("lastgasp_forward_sent_total", "counter", "Messages delivered to the destination (RELP: acknowledged).",
       [](const F& f) { return f.sent; });
  each("lastgasp_forward_connected", "gauge", "1 while the destination is connected.",
       [](const F& f) { return std::uint64_t(f.connected); });
  each("lastgasp_forward_connects_total", "counter", "Connections made to the destination.",
       [](const F& f) { return f.connects; });
  each("lastgasp_forward_connect_errors_total", "counter", "Connection attempts that failed.",
       [](const F& f) { return f.connect_errors; });
  each("lastgasp_forward_disconnects_total", "counter", "Connections lost.", [](const F& f) { return f.disconnects; });
  e.family("lastgasp_forward_dropped_total", "counter",
           "Messages the spool dropped for room, oldest first, by kind: ordinary, or priority (panics, "
           "incidents, pstore records) once nothing ordinary was left.");
  for (const auto& [forward, f] : forwards)
    e.sample({{"forward", forward}, {"kind", "ordinary"}}, f.spool.dropped)
        .sample({{"forward", forward}, {"kind", "priority"}}, f.spool.dropped_priority);
  each("lastgasp_forward_spool_errors_total", "counter", "Spool writes or reads that failed.",
       [](const F& f) { return f.spool.disk_errors; });
  e.family("lastgasp_forward_queued_bytes", "gauge", "Bytes waiting for the destination, in memory or on disk.");
  for (const auto& [forward, f] : forwards)
    e.sample({{"forward", forward}, {"where", "memory"}}, f.queued_bytes)
        .sample({{"forward", forward}, {"where", "disk"}}, f.spooled_bytes);
}

// One series per [[hook]] table and event it runs on, labelled by the table's name and the event.
void hook_series(Exposition& e, const MetricsInput& in) {
  auto each = [&](std::string_view name, std::string_view help, auto value) {
    e.family(name, "counter", help);
    for (const hooks::HookFigures& h : in.hooks)
      for (std::size_t k = 0; k < hooks::kHookEvents; ++k)
        if ((h.on >> k) & 1u)
          e.sample({{"hook", h.name}, {"event", config::kHookOnNames[k]}}, value(h.counters[k]));
  };
  using C = hooks::HookCounters;
  each("lastgasp_hook_runs_total", "Runs of the hook's program started (those that could not start included).",
       [](const C& c) { return c.runs; });
  each("lastgasp_hook_failures_total", "Runs that exited non-zero, were killed by a signal, or could not start.",
       [](const C& c) { return c.failed; });
  each("lastgasp_hook_timeouts_total", "Runs killed at the hook's timeout_s.",
       [](const C& c) { return c.timed_out; });
  e.family("lastgasp_hook_dropped_total", "counter",
           "Events the hook did not run for, by reason: its queue was full, or past max_per_minute.");
  for (const hooks::HookFigures& h : in.hooks)
    for (std::size_t k = 0; k < hooks::kHookEvents; ++k) {
      if (!((h.on >> k) & 1u)) continue;
      const std::string_view event = config::kHookOnNames[k];
      e.sample({{"hook", h.name}, {"event", event}, {"reason", "queue"}}, h.counters[k].dropped_queue)
          .sample({{"hook", h.name}, {"event", event}, {"reason", "rate"}}, h.counters[k].dropped_rate);
    }
  e.family("lastgasp_hook_running", "gauge", "Runs of the hook's program going on now.");
  for (const hooks::HookFigures& h : in.hooks) e.sample({{"hook", h.name}}, h.running);
  e.family("lastgasp_hook_queued", "gauge", "Events waiting for a run of the hook's program.");
  for (const hooks::HookFigures& h : in.hooks) e.sample({{"hook", h.name}}, h.queued);
}

void receiver_series(Exposition& e, const MetricsInput& in) {
  const ShardFigures& s = in.figures.shards;
  const WriterFigures& w = in.figures.writer;
  e.family("lastgasp_build_info", "gauge", "Always 1; the version in a label.").sample({{"version", LASTGASP_VERSION}}, 1);
  e.family("lastgasp_datagrams_total", "counter", "UDP datagrams received.").sample(in.figures.sockets.datagrams);
  e.family("lastgasp_kernel_socket_drops_total", "counter",
           "Datagrams the kernel dropped because a receive buffer was full (SO_RXQ_OVFL).")
      .sample(in.figures.sockets.kernel_drops);
  sequence_series(e, in);
  refusal_series(e, in);
  e.family("lastgasp_write_errors_total", "counter", "Failed writes to log and incident files.").sample(w.files.write_errors);
  e.family("lastgasp_sync_errors_total", "counter", "Failed fsyncs of log and incident files.").sample(w.sync_errors);
  e.family("lastgasp_journal_errors_total", "counter", "Records the systemd journal did not take.").sample(w.journal_errors);
  e.family("lastgasp_internal_errors_total", "counter", "Work that threw and was dropped: a bug.")
      .sample(s.internal_errors + w.internal_errors);
  e.family("lastgasp_open_files", "gauge", "Log and incident files open.").sample(w.open_files);
  e.family("lastgasp_hosts", "gauge", "Hosts held in memory.").sample(s.hosts);
  e.family("lastgasp_streams", "gauge", "Sender streams (address and source port) held in memory.").sample(s.streams);
  e.family("lastgasp_tcp_sessions", "gauge", "Open TCP sessions (pstore uploads, verify queries).")
      .sample(in.tcp_sessions);
  e.family("lastgasp_http_requests_total", "counter", "HTTP requests read whole.").sample(in.http.requests);
  e.family("lastgasp_http_connections", "gauge", "Open HTTP connections.").sample(in.http_connections);
  e.family("lastgasp_http_streams", "gauge", "Open /api/stream event streams.").sample(in.streams_open);
  e.family("lastgasp_http_streams_opened_total", "counter", "/api/stream event streams opened.")
      .sample(in.streams.opened);
  e.family("lastgasp_http_streams_dropped_total", "counter", "/api/stream clients let go, by reason.")
      .sample({{"reason", "too_slow"}}, in.streams.dropped)
      .sample({{"reason", "over_cap"}}, in.streams.refused);
  e.family("lastgasp_http_stream_records_lost_total", "counter",
           "Records that left the ring of recent records before the streams were given them.")
      .sample(in.streams.lost);
  e.family("lastgasp_write_backlog_bytes", "gauge", "Bytes received and not yet written.")
      .sample(w.unwritten_bytes + in.writer_backlog);
}

}  // namespace

std::string label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c >= 0x7f) wire::append_hex(out += '\\', c);  // the text "\xNN", its '\' escaped
    else out += ch;
  }
  return out;
}

std::string render_metrics(const MetricsInput& in) {
  Exposition e;
  receiver_series(e, in);
  forward_series(e, in);
  hook_series(e, in);
  host_series(e, in);
  return e.take();
}

}  // namespace lastgasp::daemon
