#include "time_spec.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <utility>

#include "levels.hpp"

namespace lastgasp::tail {

namespace {

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kDay = 86'400 * kSecond;

void skip_spaces(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
}

std::string_view trimmed(std::string_view s) {
  skip_spaces(s);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Exactly DIGITS digits.
template <class T>
bool read_number(std::string_view& s, std::size_t digits, T& out) {
  if (s.size() < digits) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + digits, out);
  if (ec != std::errc{} || end != s.data() + digits) return false;
  s.remove_prefix(digits);
  return true;
}

// C, next; 'T' also as 't' or ' ', as RFC 3339 allows.
bool expect(std::string_view& s, char c) {
  if (s.empty() || (s[0] != c && !(c == 'T' && (s[0] == 't' || s[0] == ' ')))) return false;
  s.remove_prefix(1);
  return true;
}

// systemd.time(7)'s units, longest spelling first so that "min" is not "m" + "in".
constexpr std::array<std::pair<std::string_view, std::int64_t>, 28> kUnits{{
    {"seconds", kSecond}, {"second", kSecond}, {"minutes", 60 * kSecond}, {"minute", 60 * kSecond},
    {"months", 2'629'800 * kSecond}, {"month", 2'629'800 * kSecond}, {"hours", 3600 * kSecond},
    {"hour", 3600 * kSecond}, {"weeks", 7 * kDay}, {"week", 7 * kDay}, {"years", 31'557'600 * kSecond},
    {"year", 31'557'600 * kSecond}, {"days", kDay}, {"day", kDay}, {"usec", 1}, {"msec", 1000},
    {"sec", kSecond}, {"min", 60 * kSecond}, {"hr", 3600 * kSecond}, {"us", 1}, {"ms", 1000},
    {"s", kSecond}, {"m", 60 * kSecond}, {"h", 3600 * kSecond}, {"d", kDay}, {"w", 7 * kDay},
    {"M", 2'629'800 * kSecond}, {"y", 31'557'600 * kSecond},
}};

std::optional<std::int64_t> read_unit(std::string_view& s) {
  for (const auto& [name, us] : kUnits) {
    if (!s.starts_with(name)) continue;
    std::string_view rest = s.substr(name.size());
    // A unit ends at a digit, a space or the end: "m" must not take "mo".
    if (!rest.empty() && rest.front() != ' ' && (rest.front() < '0' || rest.front() > '9')) continue;
    s = rest;
    return us;
  }
  return std::nullopt;
}

// "HH:MM[:SS[.frac]]" into TM and MICROS.
bool read_clock(std::string_view& s, std::tm& tm, std::int64_t& micros) {
  if (!read_number(s, 2, tm.tm_hour) || !expect(s, ':') || !read_number(s, 2, tm.tm_min)) return false;
  if (!expect(s, ':')) return true;
  if (!read_number(s, 2, tm.tm_sec)) return false;
  if (!expect(s, '.')) return true;
  std::int64_t scale = 100000;
  if (s.empty() || s.front() < '0' || s.front() > '9') return false;
  for (; !s.empty() && s.front() >= '0' && s.front() <= '9'; s.remove_prefix(1), scale /= 10)
    micros += (s.front() - '0') * scale;
  return true;
}

// What follows a written time: nothing (local time), "Z", "UTC", or an offset +hh:mm / +hhmm.
// Sets OFFSET_S to seconds east of UTC.
bool read_zone(std::string_view& s, std::optional<int>& offset_s) {
  skip_spaces(s);
  if (s.empty()) return true;
  if (s == "Z" || s == "z" || s == "UTC" || s == "GMT") {
    offset_s = 0;
    s = {};
    return true;
  }
  if (s.front() != '+' && s.front() != '-') return false;
  int sign = s.front() == '-' ? -1 : 1;
  s.remove_prefix(1);
  int hh = 0, mm = 0;
  if (!read_number(s, 2, hh)) return false;
  expect(s, ':');
  if (!read_number(s, 2, mm) || !s.empty()) return false;
  offset_s = sign * (hh * 3600 + mm * 60);
  return true;
}

std::int64_t to_us(std::tm tm, std::int64_t micros, std::optional<int> offset_s) {
  tm.tm_isdst = -1;
  std::time_t t = offset_s ? ::timegm(&tm) - *offset_s : std::mktime(&tm);
  return static_cast<std::int64_t>(t) * kSecond + micros;
}

std::tm local_tm(std::int64_t us) {
  std::time_t t = static_cast<std::time_t>(us / kSecond);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  return tm;
}

// Local midnight, DAYS days from NOW's.
std::int64_t local_midnight(std::int64_t now_us, int days) {
  std::tm tm = local_tm(now_us);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mday += days;
  return to_us(tm, 0, std::nullopt);
}

// "YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]]" or "HH:MM[:SS[.frac]]" (today), then the zone.
std::optional<std::int64_t> parse_written(std::string_view s, std::int64_t now_us) {
  std::tm tm{};
  std::int64_t micros = 0;
  bool has_date = s.size() >= 10 && s[4] == '-';
  if (has_date) {
    if (!read_number(s, 4, tm.tm_year) || !expect(s, '-') || !read_number(s, 2, tm.tm_mon) || !expect(s, '-') ||
        !read_number(s, 2, tm.tm_mday))
      return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    if (!s.empty() && (s.front() == 'T' || s.front() == 't' || (s.front() == ' ' && s.size() > 3 && s[3] == ':')))
      s.remove_prefix(1);
  } else {
    std::tm today = local_tm(now_us);
    tm.tm_year = today.tm_year;
    tm.tm_mon = today.tm_mon;
    tm.tm_mday = today.tm_mday;
  }
  bool has_clock = !s.empty() && s.front() >= '0' && s.front() <= '9';
  if (has_clock && !read_clock(s, tm, micros)) return std::nullopt;
  if (!has_date && !has_clock) return std::nullopt;
  std::optional<int> offset_s;
  if (!read_zone(s, offset_s)) return std::nullopt;
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return std::nullopt;
  return to_us(tm, micros, offset_s);
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  std::tm tm{};
  if (!read_number(s, 4, tm.tm_year) || !expect(s, '-') || !read_number(s, 2, tm.tm_mon) || !expect(s, '-') ||
      !read_number(s, 2, tm.tm_mday) || !expect(s, 'T') || !read_number(s, 2, tm.tm_hour) || !expect(s, ':') ||
      !read_number(s, 2, tm.tm_min) || !expect(s, ':') || !read_number(s, 2, tm.tm_sec))
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::int64_t micros = 0;
  if (!s.empty() && s[0] == '.') {
    s.remove_prefix(1);
    std::int64_t scale = 100000;
    while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
      micros += (s[0] - '0') * scale;
      scale /= 10;
      s.remove_prefix(1);
    }
  }
  std::int64_t offset = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    int sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
    int hh = 0, mm = 0;
    if (!read_number(s, 2, hh) || !expect(s, ':') || !read_number(s, 2, mm)) return std::nullopt;
    offset = sign * (hh * 3600 + mm * 60);
  } else if (!s.empty() && (s[0] == 'Z' || s[0] == 'z')) {
    s.remove_prefix(1);
  }
  if (!s.empty()) return std::nullopt;
  return (static_cast<std::int64_t>(timegm(&tm)) - offset) * 1'000'000 + micros;
}

std::optional<std::int64_t> parse_span_us(std::string_view text) {
  std::string_view s = trimmed(text);
  if (s.empty()) return std::nullopt;
  std::int64_t total = 0;
  while (!s.empty()) {
    std::int64_t whole = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), whole);
    if (ec != std::errc{} || whole < 0) return std::nullopt;
    s.remove_prefix(static_cast<std::size_t>(end - s.data()));
    double fraction = 0;
    if (expect(s, '.')) {
      for (double scale = 0.1; !s.empty() && s.front() >= '0' && s.front() <= '9'; s.remove_prefix(1), scale /= 10)
        fraction += (s.front() - '0') * scale;
    }
    skip_spaces(s);
    // A number without a unit is seconds, as in systemd; only as the last part.
    std::optional<std::int64_t> unit = s.empty() ? std::optional<std::int64_t>(kSecond) : read_unit(s);
    if (!unit) return std::nullopt;
    if (whole > (INT64_MAX / 2) / *unit) return std::nullopt;  // no overflow, whatever is typed
    total += whole * *unit + static_cast<std::int64_t>(fraction * static_cast<double>(*unit));
    skip_spaces(s);
  }
  return total;
}

std::optional<std::int64_t> parse_time(std::string_view text, std::int64_t now_us) {
  std::string_view s = trimmed(text);
  if (s.empty()) return std::nullopt;
  if (s == "now") return now_us;
  if (s == "today") return local_midnight(now_us, 0);
  if (s == "yesterday") return local_midnight(now_us, -1);
  if (s == "tomorrow") return local_midnight(now_us, 1);
  if (s.front() == '@') {
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(s.data() + 1, s.data() + s.size(), seconds);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return seconds * kSecond;
  }
  if (s.front() == '-' || s.front() == '+') {
    auto span = parse_span_us(s.substr(1));
    if (!span) return std::nullopt;
    return s.front() == '-' ? now_us - *span : now_us + *span;
  }
  if (s.ends_with("ago")) {
    auto span = parse_span_us(s.substr(0, s.size() - 3));
    if (!span) return std::nullopt;
    return now_us - *span;
  }
  if (s.ends_with("left")) {
    auto span = parse_span_us(s.substr(0, s.size() - 4));
    if (!span) return std::nullopt;
    return now_us + *span;
  }
  if (auto written = parse_written(s, now_us)) return written;
  // "10m": how far back, as this option took it before it took journalctl's forms (with a unit:
  // a bare number is no time).
  if (s.back() < '0' || s.back() > '9')
    if (auto span = parse_span_us(s)) return now_us - *span;
  return std::nullopt;
}

std::optional<Priorities> parse_priorities(std::string_view spec) {
  auto one = [](std::string_view name) -> std::optional<int> {
    if (name.size() == 1 && name[0] >= '0' && name[0] <= '7') return name[0] - '0';
    if (name == "error") name = "err";
    if (name == "panic") name = "emerg";
    return level_from_name(name);
  };
  if (spec.ends_with("+")) spec.remove_suffix(1);
  Priorities kept;
  auto dots = spec.find("..");
  if (dots == std::string_view::npos) {
    auto level = one(spec);
    if (!level) return std::nullopt;
    for (int i = 0; i <= *level; ++i) kept.set(static_cast<std::size_t>(i));
    return kept;
  }
  auto from = one(spec.substr(0, dots));
  auto to = one(spec.substr(dots + 2));
  if (!from || !to) return std::nullopt;
  if (*from > *to) std::swap(from, to);
  for (int i = *from; i <= *to; ++i) kept.set(static_cast<std::size_t>(i));
  return kept;
}

}  // namespace lastgasp::tail
