// One line of a per-host log as `tail` and `hosts` see it: the columns, what
// kind of line it is, and the filters people ask for (host glob, level, regex,
// time). Everything here is read from the log's own columns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "time_spec.hpp"

namespace re2 {
class RE2;
}

namespace lastgasp::tail {

struct Entry {
  std::string host;
  std::string recv_time, level_name, seq, ktime, text, fields;  // the log's columns
  std::optional<int> level;   // 0 (emerg) .. 7 (debug); none for the receiver's own lines
  std::string_view event;     // "", or "gap", "reboot", "panic", "incident", "pstore"
  std::int64_t recv_us = 0;   // RECV_TIME as microseconds since the epoch

  // Parses LINE of HOST's log; nullopt for a line that is not in the format.
  static std::optional<Entry> parse(const std::string& host, std::string_view line);
};

std::string format_rfc3339(std::int64_t us);

struct Filter {
  std::vector<std::string> host_globs;  // empty: every host
  std::optional<Priorities> priorities; // none: every priority
  // RE2, not std::regex: std::regex recurses once per character and overflows
  // the stack on a long record; RE2 runs in time and memory linear in the text.
  std::shared_ptr<const re2::RE2> grep;
  std::optional<std::int64_t> since_us, until_us;

  // Records whose text PATTERN matches (anywhere in it). As journalctl -g: case-insensitive
  // when CASE_SENSITIVE is unset and PATTERN has no upper-case letter. False with ERROR
  // saying why on a bad pattern.
  bool set_grep(const std::string& pattern, std::optional<bool> case_sensitive, std::string& error);
  bool wants_host(const std::string& host) const;
  bool wants(const Entry& entry) const;
};

}  // namespace lastgasp::tail
