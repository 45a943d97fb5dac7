#include "legacy.hpp"

#include <charconv>

#include "escape.hpp"

namespace lastgasp::wire {

namespace {

// "<6>" as printk writes it under console_msg_format=syslog.
std::optional<std::uint16_t> take_prio(std::string_view& line) {
  if (line.size() < 3 || line[0] != '<') return std::nullopt;
  auto close = line.find('>');
  if (close == std::string_view::npos || close > 5) return std::nullopt;
  std::uint16_t prio = 0;
  auto [end, ec] = std::from_chars(line.data() + 1, line.data() + close, prio);
  if (ec != std::errc{} || end != line.data() + close || prio > 1023) return std::nullopt;
  line.remove_prefix(close + 1);
  return prio;
}

// "[   12.345678] " as printk's print_time() writes it.
std::optional<std::uint64_t> take_time(std::string_view& line) {
  if (line.empty() || line[0] != '[') return std::nullopt;
  auto close = line.find(']');
  if (close == std::string_view::npos || close > 24) return std::nullopt;
  std::string_view inside = line.substr(1, close - 1);
  while (!inside.empty() && inside[0] == ' ') inside.remove_prefix(1);
  auto dot = inside.find('.');
  if (dot == std::string_view::npos || inside.size() - dot - 1 != 6) return std::nullopt;
  std::uint64_t secs = 0, micros = 0;
  auto [e1, c1] = std::from_chars(inside.data(), inside.data() + dot, secs);
  auto [e2, c2] = std::from_chars(inside.data() + dot + 1, inside.data() + inside.size(), micros);
  if (c1 != std::errc{} || c2 != std::errc{} || e1 != inside.data() + dot ||
      e2 != inside.data() + inside.size() || secs > 1'000'000'000'000ull)
    return std::nullopt;
  line.remove_prefix(close + 1);
  if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
  return secs * 1'000'000 + micros;
}

}  // namespace

Record parse_legacy_line(std::string_view line, Instant arrived, bool& saw_nul) {
  Record rec;
  rec.arrived = arrived;
  rec.prio = take_prio(line);
  rec.ts_usec = take_time(line);
  saw_nul = append_escaped_raw(rec.text, line);
  return rec;
}

bool LegacyJoiner::emit(std::string_view line, std::vector<Record>& out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  bool nul = false;
  out.push_back(parse_legacy_line(line, since_, nul));
  return nul;
}

bool LegacyJoiner::add(std::string_view datagram, Instant now, std::vector<Record>& out) {
  bool nul = false;
  while (!datagram.empty()) {
    if (partial_.empty()) since_ = now;
    auto newline = datagram.find('\n');
    std::string_view piece = datagram.substr(0, newline);
    datagram = newline == std::string_view::npos ? std::string_view{} : datagram.substr(newline + 1);
    if (newline == std::string_view::npos) {
      partial_.append(piece);
      if (partial_.size() >= kMaxLegacyLine) nul |= drain(out);  // bound memory: cut a runaway line
      break;
    }
    if (partial_.empty()) {
      nul |= emit(piece, out);
    } else {
      partial_.append(piece);
      nul |= drain(out);
    }
  }
  return nul;
}

bool LegacyJoiner::expire(MonoTime started_before, std::vector<Record>& out) {
  if (partial_.empty() || since_.mono > started_before) return false;
  return drain(out);
}

bool LegacyJoiner::drain(std::vector<Record>& out) {
  if (partial_.empty()) return false;
  bool nul = emit(partial_, out);
  std::string().swap(partial_);  // give the memory back: most streams never need it again
  return nul;
}

}  // namespace lastgasp::wire
