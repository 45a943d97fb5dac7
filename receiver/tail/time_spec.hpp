// The times and priorities `tail` takes, in journalctl's forms, so that what an
// administrator types for `journalctl --since` or `-p` works here unchanged.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lastgasp::tail {

// "2026-11-25T21:02:58.366482Z" (any RFC 3339 offset) -> microseconds since the epoch: the
// log's own RECV_TIME column, strictly.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

// A point in time as journalctl --since/--until take it (systemd.time(7)),
// in microseconds since the epoch, relative to NOW_US:
//   "2026-11-30 20:00", "2026-11-30 20:00:15.5", "2026-11-30" (midnight),
//   "20:00" (today): local time unless followed by "Z", "UTC" or +hh:mm;
//   RFC 3339 ("2026-11-30T20:00:00Z");
//   "now", "today", "yesterday", "tomorrow" (local midnight);
//   "-1h", "+30min", "1h30m ago", "2 days ago"; and, as before, a bare "10m" for "10m ago".
// nullopt for anything else.
std::optional<std::int64_t> parse_time(std::string_view text, std::int64_t now_us);

// A time span as systemd writes it: "1h30m", "2 days", "90s", "1h 5min".
std::optional<std::int64_t> parse_span_us(std::string_view text);

// Syslog priorities, 0 (emerg) .. 7 (debug): which ones -p/--priority keeps.
using Priorities = std::bitset<8>;

// journalctl -p: a name (emerg alert crit err warning notice info debug, and
// error, warn, panic as aliases) or a number 0-7, meaning that and everything
// more severe; or a range FROM..TO, either way round, both ends included. For
// dmesg's habit, "err+" is "err". nullopt on anything else.
std::optional<Priorities> parse_priorities(std::string_view spec);

}  // namespace lastgasp::tail
