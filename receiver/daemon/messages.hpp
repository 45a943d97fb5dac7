// What a receive thread hands the writer, and the one thing the writer answers.
// Data flows one way, datagrams to shards to the writer to files; what comes
// back is where a new host's streams had got to, which only its log can say.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sinks/log_resume.hpp"
#include "stream/event.hpp"

namespace lastgasp::daemon {

using HostKey = std::array<std::uint8_t, 16>;

// A host the shard has just taken in: read its state and where its streams had got to.
struct LoadHost {
  std::string name;     // its directory
  std::string address;  // as text, for state.json
};
// One event of a host's, in the host's order.
struct WriteEvent {
  stream::Event event;
  std::optional<std::uint16_t> src;  // src=<port>, once the host has several streams
};
// What the shard dropped of the host's since it last said, for the host's figures.
struct HostDrops {
  std::uint64_t ports_over_cap = 0;
  std::uint64_t lines_lost = 0;  // waited too long for its files, or the writer was too far behind
};
// The shard let the host go (silent, or its datagrams were refused): write, save, close.
struct ForgetHost {};

struct ToWriter {
  HostKey host;
  std::variant<LoadHost, WriteEvent, HostDrops, ForgetHost> what;
};

struct HostLoaded {
  HostKey host;
  std::vector<sinks::ResumePoint> resume;
};

}  // namespace lastgasp::daemon
