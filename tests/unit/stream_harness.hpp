// Drives a StreamMachine with an injected clock, as the daemon's event loop would.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "netconsole_record.hpp"
#include "stream/stream_machine.hpp"

namespace lastgasp::test {

using namespace std::chrono_literals;

class StreamHarness {
 public:
  explicit StreamHarness(stream::StreamSettings settings = {}) : settings_(settings), machine_(settings_, budget_) {}

  wire::Instant at(std::chrono::milliseconds t) const {
    return {wire::MonoTime{} + 1h + t, wire::WallTime{} + std::chrono::hours(24 * 365 * 56) + t};
  }

  // Feeds one datagram at time T (ms since the start), then lets timers run as the loop would.
  void feed(const std::string& datagram, std::chrono::milliseconds t) {
    now_ = t;
    machine_.feed(datagram, at(t), events, counters);
  }
  // Advances the clock to T and fires every deadline up to it.
  void advance(std::chrono::milliseconds t) {
    now_ = t;
    machine_.expire(at(t).mono, events, counters);
  }
  void drain() { machine_.drain(events, counters); }

  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.record.text);
    return out;
  }
  std::vector<std::uint64_t> seqs() const {
    std::vector<std::uint64_t> out;
    for (const auto& e : events)
      if (e.type == stream::EventType::record && e.record.seq) out.push_back(*e.record.seq);
    return out;
  }
  std::size_t count(stream::EventType type) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.type == type;
    return n;
  }

  stream::StreamSettings settings_;
  wire::ReassemblyBudget budget_;
  stream::StreamMachine machine_;
  std::vector<stream::Event> events;
  stream::StreamCounters counters;
  std::chrono::milliseconds now_{0};
};

}  // namespace lastgasp::test
