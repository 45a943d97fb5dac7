#include "render.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>

#include "sinks/log_line.hpp"
#include "wire/escape.hpp"

namespace lastgasp::tail {

namespace {

constexpr std::array<const char*, 6> kHostColors = {"32", "34", "35", "36", "33", "94"};

// Length of the valid UTF-8 sequence at S[I], or 0. Valid as RFC 3629 says: no overlong
// form, no surrogate, nothing past U+10FFFF, so that what passes is valid JSON text as well.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c >= 0xf5 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  auto second = static_cast<unsigned char>(s[i + 1]);
  bool overlong = (c == 0xe0 && second < 0xa0) || (c == 0xf0 && second < 0x90);
  bool surrogate = c == 0xed && second >= 0xa0;
  bool too_high = c == 0xf4 && second >= 0x90;
  return overlong || surrogate || too_high ? 0 : n;
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

// SAFE (terminal_safe's: valid UTF-8 with no control byte) as a JSON string: only the quote and
// the backslash need escaping.
void append_json_escaped(std::string& out, std::string_view safe) {
  out += '"';
  for (char c : safe) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void append_json_string(std::string& out, std::string_view text) { append_json_escaped(out, terminal_safe(text)); }

// An object written member by member, keys in the order given, laid out as nlohmann::json's
// dump() lays it out (INDENT < 0: on one line, no spaces), so `tail -o json` reads as it did
// when it was made with that library. By hand because /api/stream makes one for every record.
class JsonObject {
 public:
  JsonObject(std::string& out, int indent, int depth) : out_(out), indent_(indent), depth_(depth) { out_ += '{'; }
  // Starts the member KEY: its value is to be appended next.
  std::string& key(std::string_view key) {
    if (members_++) out_ += ',';
    new_line(depth_ + 1);
    append_json_escaped(out_, key);  // ours, or a field's, made safe already
    out_ += indent_ >= 0 ? ": " : ":";
    return out_;
  }
  void close() {
    if (members_) new_line(depth_);
    out_ += '}';
  }

 private:
  void new_line(int depth) {
    if (indent_ < 0) return;
    out_ += '\n';
    out_.append(static_cast<std::size_t>(depth * indent_), ' ');
  }

  std::string& out_;
  const int indent_, depth_;
  unsigned members_ = 0;
};

// FIELDS (the log's "key=value key=value" column) as an object, keys sorted; of a key given
// twice the last value counts.
void append_fields(std::string& out, std::string_view fields, int indent) {
  std::map<std::string, std::string> sorted;
  while (!fields.empty()) {
    auto space = fields.find(' ');
    std::string_view kv = fields.substr(0, space);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) sorted[terminal_safe(kv.substr(0, eq))] = terminal_safe(kv.substr(eq + 1));
    if (space == std::string_view::npos) break;
    fields.remove_prefix(space + 1);
  }
  JsonObject object(out, indent, 1);
  for (const auto& [key, value] : sorted) append_json_escaped(object.key(key), value);
  object.close();
}

void append_json_number(std::string& out, std::optional<std::uint64_t> n) {
  out += n ? std::to_string(*n) : "null";
}

std::optional<std::uint64_t> seq_number(std::string_view seq) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), n);
  return ec == std::errc{} && end == seq.data() + seq.size() && !seq.empty() ? std::optional(n) : std::nullopt;
}

// The members in sorted key order, as a JSON object's are printed by most tools.
std::string render_json(const Entry& e, int indent) {
  auto dot = e.level_name.find('.');
  bool kernel_record = dot != std::string::npos;
  auto string_or_null = [](std::string& out, std::optional<std::string_view> s) {
    if (s) append_json_string(out, *s);
    else out += "null";
  };
  std::string out;
  JsonObject j(out, indent, 0);
  string_or_null(j.key("event"), e.event.empty() ? std::nullopt : std::optional(e.event));
  string_or_null(j.key("facility"),
                 kernel_record ? std::optional(std::string_view(e.level_name).substr(0, dot)) : std::nullopt);
  append_fields(j.key("fields"), e.fields, indent);
  append_json_string(j.key("host"), e.host);
  append_json_number(j.key("ktime_usec"), sinks::parse_ktime(e.ktime));
  string_or_null(j.key("level"),
                 kernel_record ? std::optional(std::string_view(e.level_name).substr(dot + 1)) : std::nullopt);
  append_json_string(j.key("recv_time"), e.recv_time);
  append_json_number(j.key("seq"), seq_number(e.seq));
  append_json_string(j.key("text"), e.text);
  j.close();
  out += '\n';
  return out;
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
