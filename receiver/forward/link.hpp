// A destination's connection, whatever the protocol: it takes messages off the
// spool oldest first and removes them only once the protocol says they arrived
// (for TCP and TLS: the kernel took them; for RELP: the destination answered).
// Each kind is a class of its own (stream_link.hpp, relp_link.hpp); the
// Forwarder runs one on a thread of its own and knows nothing else of it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "receiver_config.hpp"
#include "spool.hpp"

namespace lastgasp::forward {

// What every kind of link does alike.
inline constexpr std::size_t kBatchBytes = 256u << 10;             // taken off the spool at once
inline constexpr auto kTick = std::chrono::milliseconds(200);       // how often a link looks at its spool
inline constexpr auto kFirstBackoff = std::chrono::seconds(1);      // reconnect after 1 s,
inline constexpr auto kMaxBackoff = std::chrono::seconds(30);       // doubling, at most 30 s

struct LinkCounters {
  std::uint64_t sent = 0;            // messages delivered (RELP: acknowledged)
  std::uint64_t connects = 0;        // connections made
  std::uint64_t connect_errors = 0;  // attempts that failed (resolve, connect, handshake)
  std::uint64_t disconnects = 0;     // connections lost
  bool connected = false;
};

class Link {
 public:
  virtual ~Link() = default;
  // The destination's thread: connects, sends, spills, until stop().
  virtual void run() = 0;
  // Any thread: run() returns soon after. What is not delivered stays in the spool.
  virtual void stop() = 0;
  // The writer's: it pushed a message. Cheap: most calls touch one atomic.
  virtual void wake() = 0;

  LinkCounters counters() const;

 protected:
  // Counted by the link's thread, read by any.
  std::atomic<std::uint64_t> sent_{0}, connects_{0}, connect_errors_{0}, disconnects_{0};
  std::atomic<bool> connected_{false};
};

// The link for SETTINGS' protocol. Throws std::runtime_error when its TLS files cannot be loaded.
std::unique_ptr<Link> make_link(const config::Forward& settings, Spool& spool);

// "forward NAME (HOST:PORT)": how the daemon's notices name a destination.
std::string describe(const config::Forward& settings);

// The notice for a destination that could not be reached, with the hint for a sandboxed unit.
std::string unreachable_notice(const config::Forward& settings, const std::string& what, bool sandboxed);

}  // namespace lastgasp::forward
