// The wire side of one sender stream: datagrams in, records out. Pure: no
// sockets, no files, no clock of its own; time comes in with each call.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fragments.hpp"
#include "legacy.hpp"
#include "record.hpp"

namespace lastgasp::wire {

// Why a datagram, or part of one, was not taken as a well-formed record.
enum class Malformed : unsigned {
  empty,                     // skipped
  bad_header,                // kept as legacy text
  number_overflow,           // kept as legacy text
  nul_bytes,                 // kept, each NUL written as \x00
  fragment_total_too_large,  // skipped: ncfrag total over 128 KiB
  fragment_bad_range,        // skipped: ncfrag slice past its total, or a zero total
  fragment_inconsistent,     // skipped: same record, another total
  reassembly_over_budget,    // skipped: the daemon-wide reassembly cap is full
  count_
};
inline constexpr std::array<const char*, static_cast<unsigned>(Malformed::count_)> kMalformedNames = {
    "empty", "bad_header", "number_overflow", "nul_bytes", "fragment_total_too_large",
    "fragment_bad_range", "fragment_inconsistent", "reassembly_over_budget"};

struct WireCounters {
  std::uint64_t datagrams = 0;
  std::uint64_t extended_records = 0;
  std::uint64_t legacy_lines = 0;
  std::uint64_t fragments = 0;
  std::uint64_t duplicate_fragments = 0;
  std::uint64_t incomplete_records = 0;
  std::array<std::uint64_t, static_cast<unsigned>(Malformed::count_)> malformed{};

  void count(Malformed why) { ++malformed[static_cast<unsigned>(why)]; }
  std::uint64_t malformed_total() const;
  WireCounters& operator+=(const WireCounters& other);
};

struct DecoderTimeouts {
  std::chrono::milliseconds fragment{100};
  std::chrono::milliseconds legacy_line{100};
};

class Decoder {
 public:
  Decoder(DecoderTimeouts timeouts, FragmentAssembler::Limits limits, ReassemblyBudget& budget)
      : timeouts_(timeouts), fragments_(limits, budget) {}

  void feed(std::string_view datagram, Instant now, std::vector<Record>& out, WireCounters& counters);
  // Releases what has waited its timeout out.
  void expire(MonoTime now, std::vector<Record>& out, WireCounters& counters);
  // Releases everything held (shutdown, eviction).
  void drain(std::vector<Record>& out, WireCounters& counters);
  std::optional<MonoTime> next_deadline() const;
  // Gives back memory kept for the next datagram, where nothing is pending.
  void compact() {
    fragments_.compact();
    legacy_.compact();
  }

 private:
  void feed_extended(const ExtendedHeader& header, Instant now,
                     std::vector<Record>& out, WireCounters& counters);
  void feed_fragment(std::string_view datagram, const ExtendedHeader& header, Instant now,
                     std::vector<Record>& out, WireCounters& counters);
  void finish(std::vector<Record>& out, WireCounters& counters);

  DecoderTimeouts timeouts_;
  FragmentAssembler fragments_;
  LegacyJoiner legacy_;
};

}  // namespace lastgasp::wire
