#include "stream_machine.hpp"

#include <algorithm>

namespace lastgasp::stream {

namespace {

// Records between the decoder and the sequencer; one per thread, so an idle
// stream holds no buffer of its own.
std::vector<wire::Record>& scratch() {
  thread_local std::vector<wire::Record> records;
  return records;
}

}  // namespace

void StreamMachine::sequence(wire::MonoTime now, std::vector<Event>& out, StreamCounters& counters) {
  for (wire::Record& record : scratch()) sequencer_.push(std::move(record), now, out, counters.sequence);
  scratch().clear();
}

void StreamMachine::feed(std::string_view datagram, wire::Instant now, std::vector<Event>& out,
                         StreamCounters& counters) {
  decoder_.feed(datagram, now, scratch(), counters.wire);
  sequence(now.mono, out, counters);
}

void StreamMachine::expire(wire::MonoTime now, std::vector<Event>& out, StreamCounters& counters) {
  decoder_.expire(now, scratch(), counters.wire);
  sequence(now, out, counters);
  sequencer_.expire(now, out, counters.sequence);
}

void StreamMachine::drain(std::vector<Event>& out, StreamCounters& counters) {
  decoder_.drain(scratch(), counters.wire);
  for (wire::Record& record : scratch()) sequencer_.push(std::move(record), {}, out, counters.sequence);
  scratch().clear();
  sequencer_.drain(out, counters.sequence);
}

std::optional<wire::MonoTime> StreamMachine::next_deadline() const {
  auto a = decoder_.next_deadline();
  auto b = sequencer_.next_deadline();
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

}  // namespace lastgasp::stream
