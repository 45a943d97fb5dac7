// When `watch` re-resolves: a burst of rtnetlink events (a device going down
// takes its addresses, routes and neighbours with it) gives one re-resolve, once
// the events have been quiet for a moment, yet never later than a bound after
// the first, so that a steady trickle cannot postpone it forever. Pure and
// clock-injected: the caller passes the time.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

namespace lastgasp::setup {

class Debounce {
 public:
  using Clock = std::chrono::steady_clock;

  Debounce(Clock::duration quiet, Clock::duration longest) : quiet_(quiet), longest_(longest) {}

  // Something happened at NOW.
  void trigger(Clock::time_point now) {
    if (!pending_) first_ = now;
    pending_ = true;
    due_ = std::min(now + quiet_, first_ + longest_);
  }
  // When to act, if anything is pending.
  std::optional<Clock::time_point> due() const {
    return pending_ ? std::optional<Clock::time_point>(due_) : std::nullopt;
  }
  // Whether to act at NOW; when it is, the pending burst is taken.
  bool take(Clock::time_point now) {
    if (!pending_ || now < due_) return false;
    pending_ = false;
    return true;
  }

 private:
  Clock::duration quiet_;
  Clock::duration longest_;
  bool pending_ = false;
  Clock::time_point first_{};
  Clock::time_point due_{};
};

}  // namespace lastgasp::setup
