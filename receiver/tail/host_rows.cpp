#include "host_rows.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "entry.hpp"
#include "log_reader.hpp"
#include "numbers.hpp"
#include "sinks/log_line.hpp"
#include "sinks/state_file.hpp"

namespace lastgasp::tail {

namespace {

// A log's lines since its state was saved are few (30 s of them): this many at most are read.
constexpr std::size_t kMaxLinesToCatchUp = 200'000;

std::vector<wire::Field> fields_of(std::string_view fields) {
  std::vector<wire::Field> out;
  while (!fields.empty()) {
    auto space = fields.find(' ');
    std::string_view kv = fields.substr(0, space);
    if (auto eq = kv.find('='); eq != std::string_view::npos)
      out.push_back({std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1))});
    if (space == std::string_view::npos) break;
    fields.remove_prefix(space + 1);
  }
  return out;
}

// The event ENTRY's line was written for, as HostState::count takes it; nullopt for a line that
// counts for nothing (the sink's own note of lines lost to write errors).
std::optional<stream::Event> event_of(const Entry& entry) {
  stream::Event event;
  event.record.arrived.wall = wire::WallTime(std::chrono::microseconds(entry.recv_us));
  event.record.text = entry.text;
  event.record.fields = fields_of(entry.fields);
  std::string_view text = entry.text;
  if (entry.level_name != "lastgasp") return event;
  if (entry.event == "reboot") {
    event.type = stream::EventType::reboot;
  } else if (entry.event == "panic" || text.starts_with("lastgasp: incident ")) {
    event.type = stream::EventType::incident;
    event.incident = entry.event == "panic" ? stream::IncidentKind::panic : stream::IncidentKind::warning;
  } else if (entry.event == "pstore") {
    event.type = stream::EventType::pstore;
    if (text.starts_with("lastgasp: pstore panic record")) event.incident = stream::IncidentKind::panic;
  } else if (auto lost = sinks::field_value(entry.fields, "lost"); entry.event == "gap" && lost &&
                                                                   parse_number<std::uint64_t>(*lost)) {
    event.type = stream::EventType::gap;  // count() adds up lost=, a number, as the sequencer wrote it
    event.record.fields = {{"lost", std::string(*lost)}};
  } else {
    return std::nullopt;
  }
  return event;
}

// Counts into STATE the lines of HOST's log received after its last_seen.
void catch_up(const std::filesystem::path& log_dir, const std::string& host, hosts::HostState& state) {
  Filter newer;
  if (state.last_seen_us) newer.since_us = state.last_seen_us + 1;
  std::map<std::string, Position> positions;
  for (const Entry& entry : read_history(log_dir, {host}, newer, kMaxLinesToCatchUp, positions))
    if (auto event = event_of(entry)) state.count(*event);
}

}  // namespace

const char* host_condition(const hosts::HostState& s, std::int64_t now_us, std::int64_t silent_after_us) {
  if (s.last_event == "panic") return "panicked";
  return now_us - s.last_seen_us > silent_after_us ? "silent" : "live";
}

std::vector<HostRow> host_rows(const sinks::LogDirectory& dir, std::vector<HostRow> live, std::size_t limit) {
  std::vector<HostRow> rows = std::move(live);
  if (rows.size() > limit) rows.resize(limit);
  std::unordered_set<std::string> held;
  for (const HostRow& r : rows) held.insert(r.host);
  for (const std::string& host : dir.host_names()) {
    if (rows.size() >= limit) break;
    if (held.contains(host)) continue;
    if (auto state = sinks::load_host_state(dir, host)) rows.push_back({host, std::move(*state)});
  }
  std::sort(rows.begin(), rows.end(), [](const HostRow& a, const HostRow& b) { return a.host < b.host; });
  return rows;
}

std::vector<HostRow> host_rows_as_of_logs(const sinks::LogDirectory& dir, const std::filesystem::path& log_dir) {
  std::vector<HostRow> rows;
  std::error_code ec;
  for (const std::string& host : dir.host_names()) {
    auto state = sinks::load_host_state(dir, host);
    bool has_log = std::filesystem::exists(log_dir / host / sinks::kConsoleLog, ec);
    if (!state && !has_log) continue;
    HostRow& row = rows.emplace_back(HostRow{host, state.value_or(hosts::HostState{})});
    if (has_log) catch_up(log_dir, host, row.state);
  }
  std::sort(rows.begin(), rows.end(), [](const HostRow& a, const HostRow& b) { return a.host < b.host; });
  return rows;
}

nlohmann::json hosts_json(const std::vector<HostRow>& rows, std::int64_t now_us, std::int64_t silent_after_us) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [host, s] : rows)
    out.push_back({{"host", host},
                   {"state", host_condition(s, now_us, silent_after_us)},
                   {"address", s.address},
                   {"self_name", s.self_name},
                   {"first_seen", format_rfc3339(s.first_seen_us)},
                   {"last_seen", format_rfc3339(s.last_seen_us)},
                   {"last_seen_usec", s.last_seen_us},
                   {"boots", s.boots},
                   {"records", s.records},
                   {"bytes", s.bytes},
                   {"gaps", s.gaps},
                   {"lost", s.lost},
                   {"panics", s.panics},
                   {"incidents", s.incidents},
                   {"pstore_records", s.pstore_records},
                   {"dropped",
                    {{"ports_over_cap", s.ports_over_cap},
                     {"incidents_over_rate", s.incidents_over_rate},
                     {"lines_lost", s.lines_lost}}}});
  return out;
}

std::int64_t wall_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace lastgasp::tail
