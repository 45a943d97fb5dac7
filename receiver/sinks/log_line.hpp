// The per-host log's line format, written here and read back (restart resume,
// incident context, and later `tail`) by the same code:
//
//   RECV_TIME \t FACILITY.LEVEL \t SEQ \t [KTIME] \t TEXT [\t FIELDS]
//
// RECV_TIME is UTC RFC 3339 with microseconds; FACILITY.LEVEL as `dmesg -x`
// writes it, or `lastgasp` for lines of our own; a missing column is `-`;
// FIELDS are space-separated key=value. TEXT has every control byte as \xNN
// (wire/escape.hpp), the backslash too where the kernel sent it raw, so a
// record is one line, shows safely on a terminal, and \xNN always means a byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stream/event.hpp"

namespace lastgasp::sinks {

// Each host's log of these lines, in its directory; rotated ones add .1, .2, ...
inline constexpr const char* kConsoleLog = "console.log";

// Formats receive times; remembers the last second, since most lines share it.
class TimeFormatter {
 public:
  void append(std::string& out, wire::WallTime t);

 private:
  std::int64_t cached_second_ = -1;
  std::string cached_;  // "YYYY-MM-DDTHH:MM:SS"
};

// Appends one line, '\n' included. SRC_PORT is added as src=<port> when the
// host has more than one stream.
void append_log_line(std::string& out, const stream::Event& event, std::optional<std::uint16_t> src_port,
                     TimeFormatter& time);

struct LogLine {
  std::string_view recv_time, level, seq, ktime, text, fields;
};
// Splits one line (without its '\n'); nullopt when it has fewer than five columns.
std::optional<LogLine> split_log_line(std::string_view line);
// "[    4.568770]" -> 4568770
std::optional<std::uint64_t> parse_ktime(std::string_view ktime);
// The value of KEY in a FIELDS column.
std::optional<std::string_view> field_value(std::string_view fields, std::string_view key);

}  // namespace lastgasp::sinks
