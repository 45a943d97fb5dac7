#include "extended.hpp"

#include <charconv>

#include "escape.hpp"

namespace lastgasp::wire {

namespace {

// The release prefix is a kernel version string; a header is never longer than this.
constexpr std::size_t kMaxHeader = 512;
constexpr std::size_t kMaxRelease = 128;
constexpr std::uint16_t kMaxPrio = 1023;  // printk keeps facility in 7 bits, level in 3

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

template <class T>
HeaderStatus parse_number(std::string_view s, T& out) {
  if (!all_digits(s)) return HeaderStatus::bad_header;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range) return HeaderStatus::number_overflow;
  if (ec != std::errc{} || end != s.data() + s.size()) return HeaderStatus::bad_header;
  return HeaderStatus::ok;
}

// Splits the next comma-separated token off HEADER.
std::string_view next_token(std::string_view& header) {
  auto comma = header.find(',');
  std::string_view token = header.substr(0, comma);
  header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
  return token;
}

bool printable_token(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  return true;
}

HeaderStatus parse_ncfrag(std::string_view value, ExtendedHeader& out) {
  auto slash = value.find('/');
  if (slash == std::string_view::npos) return HeaderStatus::bad_header;
  if (auto st = parse_number(value.substr(0, slash), out.frag_offset); st != HeaderStatus::ok) return st;
  if (auto st = parse_number(value.substr(slash + 1), out.frag_total); st != HeaderStatus::ok) return st;
  out.fragmented = true;
  return HeaderStatus::ok;
}

// The tokens after the flag: ncfrag is taken out, the rest kept as extras.
HeaderStatus parse_extras(std::string_view rest, ExtendedHeader& out) {
  const char* extras_begin = nullptr;
  const char* extras_end = nullptr;
  while (!rest.empty()) {
    std::string_view token = next_token(rest);
    auto eq = token.find('=');
    if (eq == 0 || eq == std::string_view::npos || !printable_token(token)) return HeaderStatus::bad_header;
    if (token.substr(0, eq) == "ncfrag") {
      if (out.fragmented) return HeaderStatus::bad_header;
      if (auto st = parse_ncfrag(token.substr(eq + 1), out); st != HeaderStatus::ok) return st;
      continue;
    }
    // ncfrag is always last in what the kernel sends, so the extras stay one span.
    if (out.fragmented) return HeaderStatus::bad_header;
    if (!extras_begin) extras_begin = token.data();
    extras_end = token.data() + token.size();
  }
  if (extras_begin) out.extras = std::string_view(extras_begin, extras_end - extras_begin);
  return HeaderStatus::ok;
}

void add_field(Record& rec, std::string_view key, std::string_view value) {
  Field field;
  if (is_receiver_key(key)) field.key = kSenderKeyPrefix;
  append_escaped_value(field.key, key);
  append_escaped_value(field.value, value);
  for (const Field& f : rec.fields)
    if (f == field) return;  // the release from the header and from sysdata say the same
  rec.fields.push_back(std::move(field));
}

std::optional<std::uint32_t> parse_msgid(std::string_view value) {
  std::uint32_t id = 0;
  if (parse_number(value, id) != HeaderStatus::ok) return std::nullopt;
  return id;
}

}  // namespace

HeaderStatus parse_extended_header(std::string_view datagram, ExtendedHeader& out) {
  out = ExtendedHeader{};
  auto semi = datagram.substr(0, kMaxHeader).find(';');
  if (semi == std::string_view::npos) return HeaderStatus::not_extended;
  std::string_view header = datagram.substr(0, semi);

  std::string_view first = next_token(header);
  if (!all_digits(first)) {
    // A release prefix ("6.1.0-56-amd64,") or not a header at all.
    if (first.empty() || first.size() > kMaxRelease || !printable_token(first) || header.empty() ||
        header[0] < '0' || header[0] > '9')
      return HeaderStatus::not_extended;
    out.release = first;
    first = next_token(header);
  }
  std::string_view seq = next_token(header);
  std::string_view ts = next_token(header);
  std::string_view flag = next_token(header);
  if (!all_digits(first)) return HeaderStatus::not_extended;
  if (seq.empty() || ts.empty() || flag.empty()) return HeaderStatus::bad_header;
  if (auto st = parse_number(first, out.prio); st != HeaderStatus::ok) return st;
  if (out.prio > kMaxPrio) return HeaderStatus::number_overflow;
  if (auto st = parse_number(seq, out.seq); st != HeaderStatus::ok) return st;
  if (auto st = parse_number(ts, out.ts_usec); st != HeaderStatus::ok) return st;
  if (flag.size() != 1 || (flag[0] != '-' && flag[0] != 'c' && flag[0] != '+')) return HeaderStatus::bad_header;
  out.flag = flag[0];
  if (auto st = parse_extras(header, out); st != HeaderStatus::ok) return st;
  out.header_size = static_cast<std::uint32_t>(semi + 1);
  out.body = datagram.substr(semi + 1);
  return HeaderStatus::ok;
}

bool decode_body(const ExtendedHeader& header, std::string_view body, Record& rec) {
  rec.prio = header.prio;
  rec.seq = header.seq;
  rec.ts_usec = header.ts_usec;
  if (!header.release.empty()) add_field(rec, "release", header.release);
  if (header.flag != '-') add_field(rec, "cont", std::string_view(&header.flag, 1));
  for (std::string_view extras = header.extras; !extras.empty();) {
    std::string_view token = next_token(extras);
    auto eq = token.find('=');
    add_field(rec, token.substr(0, eq), token.substr(eq + 1));
  }

  auto newline = body.find('\n');
  bool nul = append_escaped(rec.text, body.substr(0, newline));
  std::string_view rest = newline == std::string_view::npos ? std::string_view{} : body.substr(newline + 1);
  while (!rest.empty()) {
    auto end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (line.empty()) continue;
    if (line[0] != ' ') {
      // Not a dictionary line: the kernel never sends one, so keep it visibly in the text.
      rec.text += "\\x0a";
      nul |= append_escaped(rec.text, line);
      continue;
    }
    line.remove_prefix(1);
    auto eq = line.find('=');
    std::string_view key = line.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : line.substr(eq + 1);
    nul |= key.find('\0') != std::string_view::npos || value.find('\0') != std::string_view::npos;
    if (key == "msgid") rec.msgid = parse_msgid(value);
    add_field(rec, key, value);
  }
  return nul;
}

}  // namespace lastgasp::wire
