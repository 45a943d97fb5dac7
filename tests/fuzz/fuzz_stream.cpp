// libFuzzer target for the pure core: any sequence of datagrams and clock
// steps must yield well-formed events, and give back every reassembly byte.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstdlib>
#include <vector>

#include "stream/stream_machine.hpp"

using namespace lastgasp;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// What the log writer relies on: no byte in text or fields can break a line or a column.
void check_event(const stream::Event& e) {
  for (char c : e.record.text) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  for (const auto& f : e.record.fields) {
    for (char c : f.key) check(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
    for (char c : f.value) check(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  wire::ReassemblyBudget budget{1u << 20, 0};
  stream::StreamSettings settings;
  settings.fragment_limits.stream_cap = 512 * 1024;
  std::vector<stream::Event> events;
  stream::StreamCounters counters;
  {
    stream::StreamMachine machine(settings, budget);
    wire::Instant now{};
    while (input.remaining_bytes() > 0) {
      now.mono += std::chrono::milliseconds(input.ConsumeIntegralInRange(0, 300));
      if (input.ConsumeIntegralInRange(0, 7) == 0) machine.expire(now.mono, events, counters);
      else machine.feed(input.ConsumeRandomLengthString(70000), now, events, counters);
      for (const auto& e : events) check_event(e);
      events.clear();
      check(budget.used <= budget.cap);
    }
    machine.drain(events, counters);
    for (const auto& e : events) check_event(e);
    check(!machine.next_deadline());
  }
  check(budget.used == 0);
  return 0;
}
