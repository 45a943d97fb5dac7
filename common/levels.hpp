// Syslog levels, 0 (emerg) to 7 (debug), by the names the per-host log writes
// (as `dmesg -x` does) and reads back, and that `tail -p` and a [[forward]]'s
// min_level take.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace lastgasp {

inline constexpr std::array<std::string_view, 8> kLevelNames = {"emerg", "alert", "crit",  "err",
                                                                 "warn",  "notice", "info", "debug"};

// NAME's level; "warning", syslog's and journalctl's spelling, is "warn" too.
inline std::optional<int> level_from_name(std::string_view name) {
  if (name == "warning") name = "warn";
  for (std::size_t i = 0; i < kLevelNames.size(); ++i)
    if (kLevelNames[i] == name) return static_cast<int>(i);
  return std::nullopt;
}

}  // namespace lastgasp
