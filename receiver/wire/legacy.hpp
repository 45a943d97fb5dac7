// The legacy (non-extended) netconsole format: the console text itself,
// "[   12.345678] message\n" (with "<6>" in front under
// console_msg_format=syslog), cut blindly into datagrams of up to 1000 bytes.
// Lines are joined across datagrams; a partial last line waits a short time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "record.hpp"

namespace lastgasp::wire {

inline constexpr std::size_t kMaxLegacyLine = 8192;

class LegacyJoiner {
 public:
  // Appends DATAGRAM; every finished line goes to OUT. Returns whether a NUL byte was seen.
  bool add(std::string_view datagram, Instant now, std::vector<Record>& out);
  // Releases the partial line if it started before STARTED_BEFORE.
  bool expire(MonoTime started_before, std::vector<Record>& out);
  bool drain(std::vector<Record>& out);

  std::optional<MonoTime> partial_since() const {
    return partial_.empty() ? std::nullopt : std::optional<MonoTime>(since_.mono);
  }
  // Gives back the memory of past lines, when no line is partial.
  void compact() {
    if (partial_.empty()) std::string().swap(partial_);
  }

 private:
  bool emit(std::string_view line, std::vector<Record>& out);

  std::string partial_;
  Instant since_{};
};

// One legacy line as a record: the optional <prio> and [seconds.micros] prefixes
// become columns, the rest is the text.
Record parse_legacy_line(std::string_view line, Instant arrived, bool& saw_nul);

}  // namespace lastgasp::wire
