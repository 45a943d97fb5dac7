#include "log_line.hpp"

#include <array>
#include <charconv>
#include <cstdio>

#include "levels.hpp"
#include "numbers.hpp"
#include "utc_time.hpp"

namespace lastgasp::sinks {

namespace {

constexpr std::array<const char*, 24> kFacilities = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "res0", "res1", "res2", "res3", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// N in at least WIDTH characters, PAD on the left: printf's "%5llu" and "%06u", at a line per
// record without printf's cost.
void append_padded(std::string& out, std::uint64_t n, std::size_t width, char pad) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  auto digits = static_cast<std::size_t>(end - buf);
  if (digits < width) out.append(width - digits, pad);
  out.append(buf, digits);
}

void append_ktime(std::string& out, std::uint64_t usec) {
  out += '[';
  append_padded(out, usec / 1'000'000, 5, ' ');
  out += '.';
  append_padded(out, usec % 1'000'000, 6, '0');
  out += ']';
}

void append_facility_level(std::string& out, std::optional<std::uint16_t> prio) {
  if (!prio) {
    out += '-';
    return;
  }
  unsigned facility = *prio >> 3, level = *prio & 7;
  if (facility < kFacilities.size()) {
    out += kFacilities[facility];
  } else {
    out += "fac";
    append_number(out, facility);
  }
  out += '.';
  out += kLevelNames[level];
}

}  // namespace

void TimeFormatter::append(std::string& out, wire::WallTime t) {
  auto usec = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::int64_t second = usec >= 0 ? usec / 1'000'000 : (usec - 999'999) / 1'000'000;
  if (second != cached_second_) {
    cached_ = format_utc(second, "%Y-%m-%dT%H:%M:%S");
    cached_second_ = second;
  }
  auto micros = static_cast<std::uint64_t>(usec - second * 1'000'000);  // 0..999999
  out += cached_;
  out += '.';
  append_padded(out, micros % 1'000'000, 6, '0');
  out += 'Z';
}


void append_log_line(std::string& out, const stream::Event& event, std::optional<std::uint16_t> src_port,
                     TimeFormatter& time) {
  const wire::Record& r = event.record;
  time.append(out, r.arrived.wall);
  out += '\t';
  if (event.type != stream::EventType::record) out += "lastgasp";
  else append_facility_level(out, r.prio);
  out += '\t';
  if (r.seq) append_number(out, *r.seq);
  else out += '-';
  out += '\t';
  if (r.ts_usec) append_ktime(out, *r.ts_usec);
  else out += '-';
  out += '\t';
  out += r.text;
  if (!r.fields.empty() || src_port) {
    out += '\t';
    bool first = true;
    for (const wire::Field& f : r.fields) {
      if (!first) out += ' ';
      first = false;
      out += f.key;
      out += '=';
      out += f.value;
    }
    if (src_port) {
      if (!first) out += ' ';
      out += "src=";
      append_number(out, *src_port);
    }
  }
  out += '\n';
}

std::optional<LogLine> split_log_line(std::string_view line) {
  std::array<std::string_view, 6> cols{};
  std::size_t n = 0;
  while (n < cols.size()) {
    auto tab = line.find('\t');
    if (n == cols.size() - 1) tab = std::string_view::npos;  // FIELDS is the rest
    cols[n++] = line.substr(0, tab);
    if (tab == std::string_view::npos) break;
    line.remove_prefix(tab + 1);
  }
  if (n < 5) return std::nullopt;
  return LogLine{cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]};
}

std::optional<std::uint64_t> parse_ktime(std::string_view ktime) {
  if (ktime.size() < 4 || ktime.front() != '[' || ktime.back() != ']') return std::nullopt;
  ktime = ktime.substr(1, ktime.size() - 2);
  while (!ktime.empty() && ktime.front() == ' ') ktime.remove_prefix(1);
  auto dot = ktime.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto secs = parse_number<std::uint64_t>(ktime.substr(0, dot));
  auto usec = parse_number<std::uint64_t>(ktime.substr(dot + 1));
  if (!secs || !usec) return std::nullopt;
  return *secs * 1'000'000 + *usec;
}

std::optional<std::string_view> field_value(std::string_view fields, std::string_view key) {
  while (!fields.empty()) {
    auto space = fields.find(' ');
    std::string_view kv = fields.substr(0, space);
    if (kv.size() > key.size() && kv.starts_with(key) && kv[key.size()] == '=') return kv.substr(key.size() + 1);
    if (space == std::string_view::npos) break;
    fields.remove_prefix(space + 1);
  }
  return std::nullopt;
}

}  // namespace lastgasp::sinks
