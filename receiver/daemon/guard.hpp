// No sender's bytes may end the daemon. Whatever one piece of work throws (a
// bug, or memory running out) is counted and reported, that piece is dropped,
// and the thread goes on with every other host. The fuzzer asserts the count
// is 0. One guard per thread: its count is read by others, so it is atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>

#include "notice.hpp"

namespace lastgasp::daemon {

class Guard {
 public:
  // Runs WORK; true when it returned, false when it threw (and was counted).
  template <class Work>
  bool run(const char* what, Work&& work) noexcept {
    try {
      work();
      return true;
    } catch (const std::exception& e) {
      caught(what, e.what());
    } catch (...) {
      caught(what, "an unknown exception");
    }
    return false;
  }
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  void caught(const char* what, const char* why) noexcept {
    auto now = std::chrono::steady_clock::now();
    std::uint64_t n = errors_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n == 1 || now - last_report_ >= std::chrono::seconds(60)) {
      last_report_ = now;
      try {
        notice(Severity::error, std::string("internal error while ") + what + ": " + why + " (" +
                                    std::to_string(n) + " so far; that work was dropped)");
      } catch (...) {
      }
    }
  }

  std::atomic<std::uint64_t> errors_{0};
  std::chrono::steady_clock::time_point last_report_{};
};

}  // namespace lastgasp::daemon
