// A kernel record as the stream hands it to the sinks and forwarders: seq SEQ, logged at
// SEQ ms after boot, received now.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "stream/event.hpp"

namespace lastgasp::test {

inline stream::Event kernel_record(std::uint64_t seq, std::string text, unsigned prio = 6) {
  stream::Event e;
  e.record.prio = prio;
  e.record.seq = seq;
  e.record.ts_usec = seq * 1000;
  e.record.text = std::move(text);
  e.record.arrived.wall = std::chrono::system_clock::now();
  return e;
}

}  // namespace lastgasp::test
