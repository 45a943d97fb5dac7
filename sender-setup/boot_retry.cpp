#include "boot_retry.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include "error.hpp"
#include "sysroot/kernel_settings.hpp"

namespace lastgasp::setup {

namespace {

using Clock = std::chrono::steady_clock;

std::string seconds(std::chrono::milliseconds duration) {
  auto tenths = (duration.count() + 50) / 100;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") + " s";
}

}  // namespace

void log_to_kernel(Context& ctx, int level, const std::string& message) {
  if (level <= kKmsgWarning) ctx.warn(message);
  else ctx.say(message);
  if (ctx.root.dry_run()) return;
  if (int error = write_kmsg(ctx.root, level, "lastgasp-setup: " + message))
    ctx.warn("cannot write to " + ctx.root.host_path("/dev/kmsg").string() + ": " + std::strerror(error));
}

void retry_with_backoff(Context& ctx, const RetryPolicy& policy, const std::function<void()>& attempt) {
  const auto start = Clock::now();
  const auto deadline = start + policy.total;
  auto delay = policy.first_delay;
  for (int tries = 1;; ++tries) {
    try {
      attempt();
      auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      if (tries > 1)
        log_to_kernel(ctx, kKmsgNotice, policy.label + ": the receiver's path resolved at attempt " +
                                            std::to_string(tries) + ", after " + seconds(took));
      return;
    } catch (const Error& e) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= std::chrono::milliseconds::zero()) {
        if (policy.total > std::chrono::milliseconds::zero())
          log_to_kernel(ctx, kKmsgError, policy.label + " stays off this boot: attempt " + std::to_string(tries) +
                                           " failed and the " + seconds(policy.total) + " to retry are over: " +
                                           e.what() + "; once it is fixed, run 'lastgasp-setup apply'");
        throw;
      }
      auto wait = std::min(delay, left);
      log_to_kernel(ctx, kKmsgWarning, policy.label + ": attempt " + std::to_string(tries) + " failed, retrying in " +
                                         seconds(wait) + ": " + e.what());
      std::this_thread::sleep_for(wait);
      delay = std::min(delay * 2, policy.max_delay);
    }
  }
}

}  // namespace lastgasp::setup
