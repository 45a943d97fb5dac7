// Puts one stream's records in sequence order and says what is missing.
//
// Within one boot of the sender, seq and ts_usec rise together. That, not seq
// alone, decides what a record is:
//   - next in sequence: written at once;
//   - ahead of a hole: held for a short window, then the hole becomes a gap line;
//   - the same (seq, ts_usec) as one already seen: a duplicate, dropped;
//   - inside a recent gap and between its neighbours in time: late, written with late=1;
//   - far below a held record in seq, logged long before it, yet arriving after
//     it: a new boot (see below);
//   - anything else that contradicts the records around it: a new boot.
// (A seq-only rule fails on real captures: after a quick reboot the new boot's
// seq overlaps the old one's, and its records would be dropped as duplicates.)
//
// Arrival time decides the one case seq and ts cannot: a new stream's first
// records 5000-5010 followed at once by 0-5 with timestamps reset. Seq and ts
// agree with one boot (0-5 before 5000, both lower), which would be written
// first with a false gap of 6-4999. But the network moves a datagram a few
// places and milliseconds, never thousands of records and seconds: 0-5 began a
// boot after the one that was still held, and are written after it, with a
// reboot line between. A replay of the kernel's buffer (a target made by module
// parameter) also sends records hours apart in ts within milliseconds, but in
// seq order, and reordered at most a few places: it stays one boot.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "event.hpp"

namespace lastgasp::stream {

struct Position {
  std::uint64_t seq = 0;
  std::uint64_t ts_usec = 0;
};

class Sequencer {
 public:
  explicit Sequencer(std::chrono::milliseconds window) : window_(window) {}

  // Continue after a restart from the last record written before it.
  void resume(Position last) { last_ = last; }
  // The last record written, where a stream dropped while idle picks up again.
  std::optional<Position> last() const { return last_; }

  void push(wire::Record record, wire::MonoTime now, std::vector<Event>& out, SequenceCounters& counters);
  // Writes what has waited the window out.
  void expire(wire::MonoTime now, std::vector<Event>& out, SequenceCounters& counters);
  // Writes everything held, gaps between, without waiting.
  void drain(std::vector<Event>& out, SequenceCounters& counters);
  std::optional<wire::MonoTime> next_deadline() const;
  // For a stream gone quiet: gives back the memory of held records and of the recent ones kept
  // to tell a duplicate from a new boot. After it, only a repeat of the last record counts as
  // a duplicate, which is what a quiet stream's duplicate is.
  void compact();

 private:
  enum class Verdict { hold, duplicate, late, new_boot };
  struct Gap {
    std::uint64_t first, last;
    std::uint64_t ts_before, ts_after;
  };
  struct Arrival {
    wire::MonoTime at;
    std::uint64_t seq;
  };
  static constexpr std::size_t kRecent = 64;   // (seq, ts) pairs remembered for duplicate checks
  static constexpr std::size_t kGaps = 8;      // recent gaps remembered for late records
  static constexpr std::size_t kMaxHeld = 8192;
  // A record this far behind a held one in seq, and logged this much longer before it than it
  // arrived after it, cannot be that boot's, delayed on the way.
  static constexpr std::uint64_t kMaxReorder = 256;
  static constexpr std::uint64_t kMaxDelayUsec = 1'000'000;

  Verdict judge(Position p, wire::MonoTime arrived) const;
  static bool began_after(const wire::Record& held, Position p, wire::MonoTime arrived);
  void hold(wire::Record record);
  void release(wire::MonoTime now, bool everything, std::vector<Event>& out, SequenceCounters& counters);
  void start_boot(wire::Record record, std::vector<Event>& out, SequenceCounters& counters);
  void write(wire::Record record, bool advance, std::vector<Event>& out, SequenceCounters& counters);
  void write_gap(const wire::Record& next, std::vector<Event>& out, SequenceCounters& counters);
  void remember(Position p);
  void remember_late(Position p);
  const Position* recalled(std::uint64_t seq) const;
  std::optional<wire::MonoTime> oldest_arrival() const;
  void trim_arrivals() const;

  std::chrono::milliseconds window_;
  std::optional<Position> last_;
  std::optional<std::uint32_t> last_msgid_;

  // Held records, sorted by seq; [held_head_, end) are live.
  std::vector<wire::Record> held_;
  std::size_t held_head_ = 0;
  // When each held record arrived, in arrival order; entries at or below last_ are stale.
  mutable std::vector<Arrival> arrivals_;
  mutable std::size_t arrivals_head_ = 0;

  std::unique_ptr<Position[]> recent_;  // by seq % kRecent; allocated while the stream is busy (1 KiB)
  std::vector<Gap> gaps_;
};

}  // namespace lastgasp::stream
