#include "entry.hpp"

#include <fnmatch.h>
#include <re2/re2.h>

#include <algorithm>

#include "levels.hpp"
#include "sinks/log_line.hpp"
#include "utc_time.hpp"

namespace lastgasp::tail {

namespace {

std::string_view event_of(std::string_view level_name, std::string_view text) {
  if (level_name != "lastgasp") return {};
  if (text.starts_with("lastgasp: lost")) return "gap";
  if (text.starts_with("lastgasp: reboot")) return "reboot";
  if (text.starts_with("lastgasp: panic")) return "panic";
  if (text.starts_with("lastgasp: incident")) return "incident";
  if (text.starts_with("lastgasp: pstore")) return "pstore";
  return "incident";
}

}  // namespace

std::optional<Entry> Entry::parse(const std::string& host, std::string_view line) {
  Entry e;
  e.host = host;
  auto cols = sinks::split_log_line(line);
  if (!cols) return std::nullopt;
  auto us = parse_rfc3339(cols->recv_time);
  if (!us) return std::nullopt;
  e.recv_time = cols->recv_time;
  e.level_name = cols->level;
  e.seq = cols->seq;
  e.ktime = cols->ktime;
  e.text = cols->text;
  e.fields = cols->fields;
  e.recv_us = *us;
  auto dot = e.level_name.find('.');
  if (dot != std::string::npos) e.level = level_from_name(std::string_view(e.level_name).substr(dot + 1));
  e.event = event_of(e.level_name, e.text);
  return e;
}


std::string format_rfc3339(std::int64_t us) { return format_utc(us / 1'000'000, "%Y-%m-%dT%H:%M:%SZ"); }

bool Filter::set_grep(const std::string& pattern, std::optional<bool> case_sensitive, std::string& error) {
  RE2::Options options;
  options.set_log_errors(false);  // the error is ours to report, once
  bool has_upper = std::any_of(pattern.begin(), pattern.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  options.set_case_sensitive(case_sensitive.value_or(has_upper));
  auto compiled = std::make_shared<const RE2>(pattern, options);
  if (!compiled->ok()) {
    error = compiled->error();
    return false;
  }
  grep = std::move(compiled);
  return true;
}

bool Filter::wants_host(const std::string& host) const {
  if (host_globs.empty()) return true;
  for (const std::string& glob : host_globs)
    if (::fnmatch(glob.c_str(), host.c_str(), 0) == 0) return true;
  return false;
}

bool Filter::wants(const Entry& e) const {
  if (since_us && e.recv_us < *since_us) return false;
  if (until_us && e.recv_us > *until_us) return false;
  // The receiver's own lines (gaps, reboots, panics) pass any priority filter: they are what matters most.
  if (priorities && e.level && !priorities->test(static_cast<std::size_t>(*e.level))) return false;
  if (grep && !RE2::PartialMatch(e.text, *grep)) return false;
  return true;
}

}  // namespace lastgasp::tail
