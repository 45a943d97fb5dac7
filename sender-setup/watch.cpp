// `lastgasp-setup watch`: keeps the targets this tool made following the
// network. netpoll never routes or ARPs, so a target goes on sending to the
// old gateway's MAC, from an address the device no longer has, until something
// rewrites it. This listens to rtnetlink, and when an event touches what a saved
// target depends on (its device, the route, the source address, the next hop's
// MAC), re-resolves it with the resolver `netconsole` uses and updates the
// target (disable, write, enable) as one Sysroot transaction. A state that does
// not resolve is reported to the kernel log, never written: the target keeps
// its last good values. A saved target that is not there at all (the boot unit
// gave up on it) is made, as `apply` makes it, once it resolves. Each change and
// each report goes to the kernel log, so the receiver sees it.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <map>

#include "boot_retry.hpp"
#include "configfs/netconsole_target.hpp"
#include "debounce.hpp"
#include "error.hpp"
#include "netconsole.hpp"
#include "netlink/route_events.hpp"
#include "persistence.hpp"
#include "state.hpp"
#include "subcommands.hpp"
#include "sysroot/kernel_settings.hpp"

namespace lastgasp::setup {

namespace {

using Clock = Debounce::Clock;

// A burst (a device going down takes its addresses, routes and neighbours
// along) settles within a few milliseconds; 200 ms of quiet, 500 ms at most,
// leave the re-resolve and the writes well inside a second.
constexpr auto kQuiet = std::chrono::milliseconds(200);
constexpr auto kLongest = std::chrono::milliseconds(500);

// What watch knows of one saved target between re-resolves.
struct Followed {
  TargetDependency dependency;
  std::string failure;  // the last reported reason it does not resolve; "" when it does
};

class Watch {
 public:
  Watch(Context& ctx, std::chrono::milliseconds neighbour_timeout)
      : ctx_(ctx), neighbour_timeout_(neighbour_timeout) {}

  // Re-resolves every saved target that this tool made and that is live.
  void follow_all() {
    TargetsLock lock(ctx_.root);
    config::SenderFile saved = load_saved_targets(ctx_.root);
    State state = load_state(ctx_.root);
    std::map<std::string, Followed> still;
    for (std::size_t i = 0; i < saved.targets.size(); ++i) {
      std::string name = live_target_name(ctx_.root, saved.targets[i], state);
      bool live = state.targets.contains(name);
      // A target of that name that is not ours is another's, and never touched.
      if (!live && ctx_.root.is_dir(std::string(kNetconsoleConfigfs) + "/" + name)) continue;
      Followed& f = still[name] = followed_[name];
      if (live) follow(name, saved.config(i), f);
      else make(name, saved.config(i), f);
    }
    followed_ = std::move(still);
  }

  std::vector<TargetDependency> dependencies() const {
    std::vector<TargetDependency> all;
    for (const auto& [name, f] : followed_) all.push_back(f.dependency);
    return all;
  }
  std::size_t count() const { return followed_.size(); }
  std::string names() const {
    std::string list;
    for (const auto& [name, f] : followed_) list += (list.empty() ? "'" : ", '") + name + "'";
    return list;
  }

 private:
  void follow(const std::string& name, const config::SenderConfig& config, Followed& f) {
    NetPath path;
    try {
      Netlink netlink;
      config::HostPort receiver = receiver_endpoint(config);
      path = resolve_path(netlink, receiver.host, resolve_options(config, neighbour_timeout_, ctx_.root));
      auto link = netlink.link_by_name(path.device);
      f.dependency = {.ifindex = link ? link->ifindex : 0, .next_hop = path.next_hop, .mac = path.mac,
                      .resolved = true};
    } catch (const std::exception& e) {
      f.dependency.resolved = false;
      report_failure(name, "left as it is", e.what(), f);
      return;
    }
    try {
      write_target(name, config, path);
      ctx_.root.commit();
    } catch (const std::exception& e) {
      ctx_.root.rollback();
      f.dependency.resolved = false;
      report_failure(name, "left as it is", std::string("updating it failed, and was undone: ") + e.what(), f);
      return;
    }
    if (!f.failure.empty())
      log_to_kernel(ctx_, kKmsgNotice, "watch: netconsole target '" + name + "' resolves again: " + where(path));
    f.failure.clear();
  }

  // A saved target that is not there: the boot unit gave up on it (the network was not up within
  // its retries). Made as `apply` makes it, once it resolves; until then every change may be
  // the one it waits for.
  void make(const std::string& name, const config::SenderConfig& config, Followed& f) {
    try {
      Netlink netlink;
      NetPath path = resolve_receiver_path(netlink, config, neighbour_timeout_, ctx_.root);
      apply_netconsole(config, path, {.persist = true, .at_boot = true}, ctx_);
      ctx_.root.commit();
    } catch (const std::exception& e) {
      ctx_.root.rollback();
      f.dependency = {};
      report_failure(name, "not made yet", e.what(), f);
      return;
    }
    log_to_kernel(ctx_, kKmsgNotice, "watch: netconsole target '" + name + "' made: it resolves now");
    f.failure.clear();
    follow(name, config, f);  // for what it depends on
  }

  void write_target(const std::string& name, const config::SenderConfig& config, const NetPath& path) {
    std::size_t changes_before = ctx_.root.change_count();
    ApplyResult applied = NetconsoleTarget(ctx_.root, name).apply(target_request(config, path, ctx_.root));
    if (ctx_.root.change_count() == changes_before) return;
    std::string changes;
    for (const AttributeChange& c : applied.changes)
      changes += (changes.empty() ? "" : ", ") + c.attribute + " '" + c.before + "' -> '" + c.after + "'";
    if (changes.empty()) changes = "enabled again";
    log_to_kernel(ctx_, kKmsgNotice, "watch: netconsole target '" + name + "' follows the network (" + where(path) +
                                         "): " + (ctx_.root.dry_run() ? "would change " : "") + changes);
  }

  // Said once per distinct reason, so that a next hop that stays silent does not fill the log.
  void report_failure(const std::string& name, const std::string& outcome, const std::string& reason, Followed& f) {
    if (reason == f.failure) return;
    f.failure = reason;
    log_to_kernel(ctx_, kKmsgWarning, "watch: netconsole target '" + name + "' " + outcome + ": " + reason);
  }

  static std::string where(const NetPath& path) {
    return path.receiver + " via " + path.device + " from " + path.source + ", next hop " + path.next_hop +
           " at " + path.mac;
  }

  Context& ctx_;
  std::chrono::milliseconds neighbour_timeout_;
  std::map<std::string, Followed> followed_;
};

// SIGTERM and SIGINT, as a descriptor: a signal then ends the loop between two
// transactions, never inside one, which could leave a target disabled.
int stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) throw Error("cannot block SIGTERM");
  int fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) throw Error("cannot make a signalfd");
  return fd;
}

int poll_timeout(const Debounce& debounce) {
  auto due = debounce.due();
  if (!due) return -1;
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(*due - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(wait.count(), 0));
}

int run_watch(Context& ctx, std::chrono::milliseconds neighbour_timeout) {
  if (ctx.json) throw Error("watch reports to the kernel log and stderr as it goes; it has no --json");
  int signals = stop_signals();
  // Subscribed before the first re-resolve: a change in between is not lost.
  RouteEvents events;
  Watch watch(ctx, neighbour_timeout);
  watch.follow_all();
  ctx.say("watching " + std::to_string(watch.count()) + " netconsole target(s)" +
          (watch.count() ? ": " + watch.names() : " (none saved)"));
  ctx.out.flush();
  Debounce debounce(kQuiet, kLongest);
  for (;;) {
    pollfd fds[] = {{.fd = events.fd(), .events = POLLIN, .revents = 0},
                    {.fd = signals, .events = POLLIN, .revents = 0}};
    if (::poll(fds, 2, poll_timeout(debounce)) < 0 && errno != EINTR) throw Error("poll failed");
    if (fds[1].revents) {
      ::close(signals);
      return kExitOk;
    }
    if (fds[0].revents) {
      RouteEventBatch batch = events.drain();
      if (batch.overflow) {
        ctx.warn("rtnetlink notifications were lost (socket buffer full): re-resolving every target");
        debounce.trigger(Clock::now());
      }
      auto dependencies = watch.dependencies();
      for (const RouteEvent& event : batch.events)
        if (affects(event, dependencies)) debounce.trigger(Clock::now());
    }
    if (debounce.take(Clock::now())) watch.follow_all();
  }
}

}  // namespace

SubcommandRun define_watch(CLI::App& command) {
  auto timeout_ms = std::make_shared<int>(3000);
  command.add_option("--neighbour-timeout", *timeout_ms,
                     "how long to wait for a next hop's MAC, in milliseconds, before reporting that it does not "
                     "resolve")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  return [timeout_ms](Context& ctx) { return run_watch(ctx, std::chrono::milliseconds(*timeout_ms)); };
}

}  // namespace lastgasp::setup
