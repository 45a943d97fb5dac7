#include "decoder.hpp"

#include <algorithm>

namespace lastgasp::wire {

namespace {

// Messages the assembler finished; one per thread, so an idle stream holds no buffer.
std::vector<FragmentAssembler::Done>& finished() {
  thread_local std::vector<FragmentAssembler::Done> done;
  return done;
}

}  // namespace

std::uint64_t WireCounters::malformed_total() const {
  std::uint64_t total = 0;
  for (auto n : malformed) total += n;
  return total;
}

WireCounters& WireCounters::operator+=(const WireCounters& other) {
  datagrams += other.datagrams;
  extended_records += other.extended_records;
  legacy_lines += other.legacy_lines;
  fragments += other.fragments;
  duplicate_fragments += other.duplicate_fragments;
  incomplete_records += other.incomplete_records;
  for (std::size_t i = 0; i < malformed.size(); ++i) malformed[i] += other.malformed[i];
  return *this;
}

void Decoder::feed(std::string_view datagram, Instant now, std::vector<Record>& out,
                   WireCounters& counters) {
  ++counters.datagrams;
  if (datagram.empty()) {
    counters.count(Malformed::empty);
    return;
  }
  ExtendedHeader header;
  switch (parse_extended_header(datagram, header)) {
    case HeaderStatus::ok:
      if (header.fragmented) feed_fragment(datagram, header, now, out, counters);
      else feed_extended(header, now, out, counters);
      return;
    case HeaderStatus::bad_header:
      counters.count(Malformed::bad_header);
      break;
    case HeaderStatus::number_overflow:
      counters.count(Malformed::number_overflow);
      break;
    case HeaderStatus::not_extended:
      break;
  }
  // Not a record header: keep the bytes as legacy console text, never drop them.
  auto before = out.size();
  if (legacy_.add(datagram, now, out)) counters.count(Malformed::nul_bytes);
  counters.legacy_lines += out.size() - before;
}

void Decoder::feed_extended(const ExtendedHeader& header, Instant now,
                            std::vector<Record>& out, WireCounters& counters) {
  Record& rec = out.emplace_back();
  rec.arrived = now;
  if (decode_body(header, header.body, rec)) counters.count(Malformed::nul_bytes);
  ++counters.extended_records;
}

void Decoder::feed_fragment(std::string_view datagram, const ExtendedHeader& header, Instant now,
                            std::vector<Record>& out, WireCounters& counters) {
  ++counters.fragments;
  if (header.frag_total > kMaxFragmentedTotal) {
    counters.count(Malformed::fragment_total_too_large);
    return;
  }
  if (header.frag_total == 0 || header.frag_offset > header.frag_total ||
      header.body.size() > header.frag_total - header.frag_offset) {
    counters.count(Malformed::fragment_bad_range);
    return;
  }
  switch (fragments_.add(datagram, header, now, finished())) {
    case FragmentStatus::duplicate: ++counters.duplicate_fragments; break;
    case FragmentStatus::inconsistent: counters.count(Malformed::fragment_inconsistent); break;
    case FragmentStatus::over_budget: counters.count(Malformed::reassembly_over_budget); break;
    case FragmentStatus::partial:
    case FragmentStatus::complete: break;
  }
  finish(out, counters);
}

void Decoder::finish(std::vector<Record>& out, WireCounters& counters) {
  std::vector<FragmentAssembler::Done>& done = finished();
  for (FragmentAssembler::Done& d : done) {
    ExtendedHeader header;
    parse_extended_header(d.header_text, header);  // parsed once already: cannot fail
    Record& rec = out.emplace_back();
    rec.arrived = d.arrived;
    if (decode_body(header, d.body, rec)) counters.count(Malformed::nul_bytes);
    if (d.missing_bytes) {
      rec.missing_bytes = d.missing_bytes;
      rec.fields.push_back({"missing_bytes", std::to_string(d.missing_bytes)});
      ++counters.incomplete_records;
    }
    ++counters.extended_records;
  }
  done.clear();
}

void Decoder::expire(MonoTime now, std::vector<Record>& out, WireCounters& counters) {
  fragments_.expire(now - timeouts_.fragment, finished());
  finish(out, counters);
  auto before = out.size();
  if (legacy_.expire(now - timeouts_.legacy_line, out)) counters.count(Malformed::nul_bytes);
  counters.legacy_lines += out.size() - before;
}

void Decoder::drain(std::vector<Record>& out, WireCounters& counters) {
  fragments_.drain(finished());
  finish(out, counters);
  auto before = out.size();
  if (legacy_.drain(out)) counters.count(Malformed::nul_bytes);
  counters.legacy_lines += out.size() - before;
}

std::optional<MonoTime> Decoder::next_deadline() const {
  std::optional<MonoTime> deadline;
  if (auto start = fragments_.oldest_start()) deadline = *start + timeouts_.fragment;
  if (auto since = legacy_.partial_since()) {
    MonoTime d = *since + timeouts_.legacy_line;
    deadline = deadline ? std::min(*deadline, d) : d;
  }
  return deadline;
}

}  // namespace lastgasp::wire
