// What one sender stream yields, in the order it is to be written.
#pragma once

#include <array>
#include <cstdint>

#include "incident.hpp"
#include "wire/record.hpp"

namespace lastgasp::stream {

enum class EventType {
  record,    // a kernel record
  gap,       // records that never came: "lastgasp: lost N messages (seq A-B)"
  reboot,    // the sender started a new boot: "lastgasp: reboot ..."
  incident,  // the record before it was a trigger: "lastgasp: panic ..." / "lastgasp: incident kind=..."
  pstore,    // a pstore record of the previous boot was uploaded: "lastgasp: pstore ..."
};

struct Event {
  EventType type = EventType::record;
  wire::Record record;  // for lines of our own: no prio/seq/ts, the sentence in text
  IncidentKind incident = IncidentKind::warning;  // for EventType::incident, and pstore panic records
};

struct SequenceCounters {
  std::uint64_t records = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t gaps = 0;
  std::uint64_t lost = 0;
  std::uint64_t late = 0;
  std::uint64_t reboots = 0;
  std::array<std::uint64_t, kIncidentKinds> incidents{};  // by IncidentKind

  SequenceCounters& operator+=(const SequenceCounters& other);
};

}  // namespace lastgasp::stream
