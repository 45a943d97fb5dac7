#include "render.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>

#include "sinks/log_line.hpp"
#include "wire/escape.hpp"

namespace lastgasp::tail {

namespace {

constexpr std::array<const char*, 6> kHostColors = {"32", "34", "35", "36", "33", "94"};

// Length of the valid UTF-8 sequence at S[I], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

const char* level_color(const Entry& e) {
  if (e.event == "panic" || e.event == "incident") return "1;37;41";
  if (e.event == "reboot") return "1;36";
  if (e.event == "gap") return "1;35";
  if (e.event == "pstore") return "1;33";
  if (!e.level) return nullptr;
  switch (*e.level) {
    case 0: case 1: case 2: return "1;31";
    case 3: return "31";
    case 4: return "33";
    case 5: return "1";
    case 7: return "2";
    default: return nullptr;
  }
}

void paint(std::string& out, const char* color, std::string_view text, bool enabled) {
  if (!enabled || !color) {
    out += text;
    return;
  }
  out += "\x1b[";
  out += color;
  out += 'm';
  out += text;
  out += "\x1b[0m";
}

nlohmann::json fields_object(std::string_view fields) {
  nlohmann::json out = nlohmann::json::object();
  while (!fields.empty()) {
    auto space = fields.find(' ');
    std::string_view kv = fields.substr(0, space);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) out[terminal_safe(kv.substr(0, eq))] = terminal_safe(kv.substr(eq + 1));
    if (space == std::string_view::npos) break;
    fields.remove_prefix(space + 1);
  }
  return out;
}

template <class T>
nlohmann::json number_or_null(std::optional<T> v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::optional<std::uint64_t> seq_number(std::string_view seq) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), n);
  return ec == std::errc{} && end == seq.data() + seq.size() && !seq.empty() ? std::optional(n) : std::nullopt;
}

std::string render_json(const Entry& e, int indent) {
  auto dot = e.level_name.find('.');
  bool kernel_record = dot != std::string::npos;
  nlohmann::json j = {
      {"host", terminal_safe(e.host)},
      {"recv_time", e.recv_time},
      {"level", kernel_record ? nlohmann::json(e.level_name.substr(dot + 1)) : nlohmann::json(nullptr)},
      {"facility", kernel_record ? nlohmann::json(e.level_name.substr(0, dot)) : nlohmann::json(nullptr)},
      {"seq", number_or_null(seq_number(e.seq))},
      {"ktime_usec", number_or_null(sinks::parse_ktime(e.ktime))},
      {"text", terminal_safe(e.text)},
      {"fields", fields_object(e.fields)},
      {"event", e.event.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::string(e.event))},
  };
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

std::optional<Output> parse_output(std::string_view name) {
  for (std::size_t i = 0; i < kOutputNames.size(); ++i)
    if (kOutputNames[i] == name) return static_cast<Output>(i);
  return std::nullopt;
}

bool is_json(Output output) { return output == Output::json || output == Output::json_pretty; }

std::string format_time(std::int64_t us, Output output) {
  std::int64_t seconds = us >= 0 ? us / 1'000'000 : (us - 999'999) / 1'000'000;
  auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  bool iso = output == Output::short_iso || output == Output::short_iso_precise;
  bool precise = output == Output::short_precise || output == Output::short_iso_precise;
  char buf[64];
  std::string out(buf, std::strftime(buf, sizeof buf, iso ? "%Y-%m-%dT%H:%M:%S" : "%b %d %H:%M:%S", &tm));
  if (precise) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(us - seconds * 1'000'000));
    out += buf;
  }
  if (iso) {
    // strftime's +0100 as RFC 3339's +01:00, which --since takes back as it is.
    std::string_view zone(buf, std::strftime(buf, sizeof buf, "%z", &tm));
    out += zone.substr(0, 3);
    if (zone.size() == 5) out += ':';
    out += zone.substr(3);
  }
  return out;
}

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    std::size_t n = c >= 0x80 ? utf8_length(text, i) : 0;
    bool c1 = n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;  // U+0080..U+009F
    if (n == 0 || c1) {
      wire::append_hex(out, c);
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string render(const Entry& e, const RenderOptions& o) {
  if (o.output == Output::json) return render_json(e, -1);
  if (o.output == Output::json_pretty) return render_json(e, 2);
  std::string out;
  const char* color = level_color(e);
  if (o.output != Output::cat) {
    out += format_time(e.recv_us, o.output);
    out += ' ';
    if (o.show_host) {
      const char* host_color = kHostColors[std::hash<std::string>{}(e.host) % kHostColors.size()];
      paint(out, host_color, terminal_safe(e.host), o.color);
      out += ' ';
    }
    paint(out, color, terminal_safe(e.level_name), o.color);
    out += ' ';
    if (e.ktime != "-") {
      out += terminal_safe(e.ktime);
      out += ' ';
    }
  }
  std::string text = terminal_safe(e.text);
  paint(out, e.event.empty() && e.level && *e.level > 3 ? nullptr : color, text, o.color);
  out += '\n';
  return out;
}

}  // namespace lastgasp::tail
