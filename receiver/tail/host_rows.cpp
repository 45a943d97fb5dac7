#include "host_rows.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "entry.hpp"
#include "sinks/state_file.hpp"

namespace lastgasp::tail {

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

nlohmann::json hosts_json(const std::vector<HostRow>& rows, std::int64_t now_us, std::int64_t silent_after_us) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [host, s] : rows)
    out.push_back({{"host", host},
                   {"state", host_condition(s, now_us, silent_after_us)},
                   {"address", s.address},
                   {"self_name", s.self_name},
                   {"first_seen", format_rfc3339(s.first_seen_us)},
                   {"last_seen", format_rfc3339(s.last_seen_us)},
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
