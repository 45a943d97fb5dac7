// What `lastgasp-receiver hosts` shows for a host: counted in memory from the
// host's events, and kept by the writer in LOG_DIR/<host>/state.json
// (sinks/state_file.hpp), so any user who can read the logs can read it, and
// it survives restarts and evictions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "stream/event.hpp"

namespace lastgasp::hosts {

struct HostState {
  std::string address;
  std::string self_name;  // what the host calls itself (userdata host=), where sent
  std::int64_t first_seen_us = 0;  // wall clock, microseconds since the epoch
  std::int64_t last_seen_us = 0;
  std::uint64_t boots = 1;  // the receiver's boot counter for this host
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;  // of the records' text
  std::uint64_t gaps = 0;
  std::uint64_t lost = 0;
  std::uint64_t panics = 0;
  std::uint64_t incidents = 0;
  std::uint64_t pstore_records = 0;  // uploaded from past boots
  // What the receiver dropped of this host's, by reason.
  std::uint64_t ports_over_cap = 0;       // datagrams from source ports past max_streams_per_host
  std::uint64_t incidents_over_rate = 0;  // triggers that got no incident file (incident_burst)
  std::uint64_t lines_lost = 0;           // lines given up after write errors went on too long
  std::string last_event;  // "panic", "incident", "reboot", or empty
  bool dirty = false;      // changed since last saved

  // Counts EVENT; a reboot raises `boots`, so call it before writing the event.
  void count(const stream::Event& event);
  std::string to_json() const;
  static std::optional<HostState> from_json(const std::string& text);
};

}  // namespace lastgasp::hosts
