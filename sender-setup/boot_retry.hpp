// At boot the network may be up in name only: network-online.target can be
// reached while a gateway still boots after the same power cut, or before a
// late DHCP lease. `apply` run by the unit therefore tries the path to the
// receiver again with backoff, within a bound, and writes every failure to the
// kernel log: the console shows it, and the receiver will once netconsole is on.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "context.hpp"

namespace lastgasp::setup {

struct RetryPolicy {
  std::chrono::milliseconds total{0};  // 0: one attempt, as an interactive run wants
  std::chrono::milliseconds first_delay{1000};
  std::chrono::milliseconds max_delay{30000};
  std::string label = "netconsole";  // what the kernel log says is failing
};

// MESSAGE at LEVEL (kKmsg*) into the kernel log under the root, where the
// receiver sees it once netconsole sends, and to the user (the journal, for a
// unit); with --dry-run only to the user, as the kernel log is not ours to fill then.
void log_to_kernel(Context& ctx, int level, const std::string& message);

// Runs ATTEMPT until it returns without throwing Error, waiting first_delay,
// then twice as long each time up to max_delay, for at most POLICY.total in all
// (an attempt already started is let finish). Each failure goes to the kernel
// log and stderr; the last Error is rethrown when the time is up.
void retry_with_backoff(Context& ctx, const RetryPolicy& policy, const std::function<void()>& attempt);

}  // namespace lastgasp::setup
