// The disk bound runs on a thread of its own: counting, compressing and
// removing files can take seconds on a large LOG_DIR or a slow disk, and the
// event loop must never wait for that (issue 8: nothing on the loop may take
// more than a few milliseconds). The daemon hands it what the sink wrote
// (DiskGrowth) every second or sooner, asks it to count everything afresh
// every 10 s or at once on a write error, and reads back figures, notices and
// the hosts whose current log must be rotated away (only the loop may do that:
// the sink holds the log open).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "disk_quota.hpp"

namespace lastgasp::sinks {

struct DiskRequest {
  DiskGrowth growth;
  std::set<std::string> open_incidents;  // "host/incidents/x.log": being written, not to be removed
  bool recount = false;                  // count every host afresh
};

struct DiskStatus {
  std::uint64_t used = 0;  // bytes under LOG_DIR, as last counted
  std::uint64_t free = 0;  // bytes free on its filesystem
  QuotaCounters quota;
  std::uint64_t compressed = 0;  // rotated logs compressed
  std::uint64_t compress_failures = 0;
};

class DiskWorker {
 public:
  DiskWorker(const LogDirectory& dir, const DiskQuotas& quotas);
  // Finishes the pass under way, if any, and joins the thread.
  ~DiskWorker();
  DiskWorker(const DiskWorker&) = delete;
  DiskWorker& operator=(const DiskWorker&) = delete;

  void configure(const DiskQuotas& quotas);
  // Wakes the worker; a request it has not taken yet is merged with this one.
  void request(DiskRequest request);
  // Hosts whose current log has to go: nothing else of theirs is left to remove.
  std::vector<std::string> take_rotate_away();
  // What was removed since the last notice, at most every 10 s; empty when nothing is due.
  std::string take_notice();
  // For STATUS=: usage, removals and compression.
  std::string summary() const;

 private:
  void run();
  void pass(DiskRequest request);
  void compress(const std::set<std::string>& hosts);
  void on_removed(const std::string& host, const DiskFile& file, const char* bound);

  const LogDirectory& dir_;
  QuotaEnforcer enforcer_;  // the worker thread's alone
  bool counted_ = false;    // worker thread: every host counted at least once
  std::set<std::string> compress_again_;  // worker thread: hosts whose compression failed

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::optional<DiskRequest> pending_;
  std::optional<DiskQuotas> quotas_;  // new quotas, not yet taken by the worker
  bool stop_ = false;
  DiskStatus status_;
  std::vector<std::string> rotate_away_;
  std::uint64_t unsaid_files_ = 0, unsaid_bytes_ = 0;
  std::string last_removed_;
  std::chrono::steady_clock::time_point last_notice_{};

  std::thread thread_;  // last: starts once everything above is built
};

}  // namespace lastgasp::sinks
