// The pure parts of [[hook]]: which events a table takes, its rate limit, concurrency and queue,
// its counters, and the environment a run gets. No process and no clock here: the runner
// (hook_runner.hpp) does the I/O, and tests drive these with their own time.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hook_event.hpp"
#include "receiver_config.hpp"

namespace lastgasp::hooks {

using MonoTime = std::chrono::steady_clock::time_point;

inline constexpr std::size_t kHookEvents = config::kHookOnNames.size();
// The longest value of a sender's that goes into a run's environment, escaped.
inline constexpr std::size_t kMaxEnvValue = 1024;

// At most MAX_PER_MINUTE admissions in any 60 seconds.
class RateWindow {
 public:
  explicit RateWindow(unsigned max_per_minute) : max_(max_per_minute) {}
  bool admit(MonoTime now);

 private:
  unsigned max_;
  std::deque<MonoTime> admitted_;  // within the last minute, oldest first
};

struct HookCounters {
  std::uint64_t runs = 0;           // started (those that could not start included)
  std::uint64_t failed = 0;         // non-zero exit, killed by a signal, or could not start
  std::uint64_t timed_out = 0;      // killed at timeout_s
  std::uint64_t dropped_queue = 0;  // the queue was full
  std::uint64_t dropped_rate = 0;   // past max_per_minute
};

enum class RunEnd { ok, failed, timed_out };

// One [[hook]] table's admission: the events it wants go through its rate limit, then start at
// once while fewer than `concurrency` run, or wait in a queue of `queue`; the rest are dropped.
class HookGate {
 public:
  explicit HookGate(config::Hook hook) : hook_(std::move(hook)), rate_(hook_.max_per_minute) {}

  const config::Hook& hook() const { return hook_; }
  bool wants(const HookEvent& event) const;
  // EVENT, which it wants, at NOW: returned to be started now, or queued, or dropped and counted.
  std::optional<HookEvent> offer(HookEvent event, MonoTime now);
  // A run of KIND ended as END: counted; the queued event to start next, if any.
  std::optional<HookEvent> finished(config::HookOn kind, RunEnd end);
  const std::array<HookCounters, kHookEvents>& counters() const { return counters_; }
  unsigned running() const { return running_; }
  std::size_t queued() const { return queue_.size(); }

 private:
  HookEvent start(HookEvent event);
  HookCounters& counters(config::HookOn kind) { return counters_[static_cast<std::size_t>(kind)]; }

  config::Hook hook_;
  RateWindow rate_;
  std::deque<HookEvent> queue_;
  unsigned running_ = 0;
  std::array<HookCounters, kHookEvents> counters_{};
};

// TEXT, which may hold a sender's bytes, made fit for an environment variable: control bytes
// written \xNN as in the logs, and cut to kMaxEnvValue bytes on a character's boundary.
std::string safe_env_value(std::string_view text);

// The environment of a run of HOOK for EVENT: BASE (the daemon's PATH and locale), then the
// LASTGASP_* variables the man page lists; nothing else of the daemon's.
std::vector<std::string> hook_environment(const config::Hook& hook, const HookEvent& event,
                                          const std::vector<std::string>& base);

// What BASE should be: PATH (a default one if the daemon has none), LANG, LC_ALL, LC_CTYPE and
// TZ from VARIABLES, the daemon's environment.
std::vector<std::string> base_environment(char** variables);

}  // namespace lastgasp::hooks
