// One sender stream (source address and port), from datagrams to the events to
// write: the wire decoder feeding the sequencer. Pure, like both of them, so
// that tests and the fuzzer drive it without sockets, files or clocks.
#pragma once

#include <chrono>
#include <string_view>
#include <vector>

#include "event.hpp"
#include "sequencer.hpp"
#include "wire/decoder.hpp"

namespace lastgasp::stream {

struct StreamSettings {
  wire::DecoderTimeouts timeouts;
  wire::FragmentAssembler::Limits fragment_limits;
  std::chrono::milliseconds reorder_window{100};
};

struct StreamCounters {
  wire::WireCounters wire;
  SequenceCounters sequence;
  StreamCounters& operator+=(const StreamCounters& other) {
    wire += other.wire;
    sequence += other.sequence;
    return *this;
  }
};

class StreamMachine {
 public:
  StreamMachine(const StreamSettings& settings, wire::ReassemblyBudget& budget)
      : decoder_(settings.timeouts, settings.fragment_limits, budget), sequencer_(settings.reorder_window) {}

  void feed(std::string_view datagram, wire::Instant now, std::vector<Event>& out, StreamCounters& counters);
  // Whatever has waited long enough: incomplete fragments, partial lines, records behind a gap.
  void expire(wire::MonoTime now, std::vector<Event>& out, StreamCounters& counters);
  // Everything, now (shutdown).
  void drain(std::vector<Event>& out, StreamCounters& counters);
  std::optional<wire::MonoTime> next_deadline() const;
  // For a stream gone quiet with nothing pending: gives back what it kept for the next datagram.
  void compact() {
    decoder_.compact();
    sequencer_.compact();
  }

  Sequencer& sequencer() { return sequencer_; }
  const Sequencer& sequencer() const { return sequencer_; }

 private:
  void sequence(wire::MonoTime now, std::vector<Event>& out, StreamCounters& counters);

  wire::Decoder decoder_;
  Sequencer sequencer_;
};

}  // namespace lastgasp::stream
