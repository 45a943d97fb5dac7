// Runs the [[hook]] tables' programs on the daemon's main event loop: posix_spawn (no shell) in a
// process group of its own, stdin /dev/null, stdout and stderr into a pipe whose first
// kMaxOutput bytes go into a notice when the run ends; the exit seen through a pidfd, so nothing
// ever blocks in waitpid and no SIGCHLD handler is needed. At timeout_s the group gets SIGTERM,
// and SIGKILL kKillGrace later. The receive threads and the writer only post events here.
#pragma once

#include <boost/asio/io_context.hpp>

#include <array>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hook_rules.hpp"

namespace lastgasp::hooks {

struct HookFigures {
  std::string name;
  unsigned on = 0;  // the table's events, a bit per HookOn
  std::array<HookCounters, kHookEvents> counters{};  // by HookOn
  unsigned running = 0;
  std::size_t queued = 0;
};

class HookRunner {
 public:
  static constexpr std::size_t kMaxOutput = 2048;
  static constexpr auto kKillGrace = std::chrono::seconds(3);

  HookRunner(boost::asio::io_context& io, const std::vector<config::Hook>& hooks);
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  // SIGHUP: the new tables. One unchanged keeps its counters, queue and runs; a changed one
  // starts afresh, its runs in flight finishing under the old.
  void configure(const std::vector<config::Hook>& hooks);
  // Offers EVENT to every table that wants it.
  void on_event(const HookEvent& event);
  std::vector<HookFigures> figures() const;
  // The daemon stops: runs still going are left to finish on their own (under systemd, the
  // unit's stop ends them), and nothing is left for the event loop to wait for.
  void stop();

 private:
  struct Run;
  void start(const std::shared_ptr<HookGate>& gate, HookEvent event);
  void watch(const std::shared_ptr<Run>& run);
  void read_output(const std::shared_ptr<Run>& run);
  void on_timeout(const std::shared_ptr<Run>& run);
  void reap(const std::shared_ptr<Run>& run);
  void end(const std::shared_ptr<HookGate>& gate, config::HookOn kind, const std::string& host, RunEnd how,
           const std::string& what, const std::string& output);

  boost::asio::io_context& io_;
  std::vector<std::shared_ptr<HookGate>> gates_;
  std::vector<std::string> base_env_;
  std::list<std::shared_ptr<Run>> runs_;  // in flight: their descriptors are closed when the runner goes
};

}  // namespace lastgasp::hooks
