#include "netconsole.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "collect.hpp"
#include "configfs/netconsole_target.hpp"
#include "error.hpp"
#include "persistence.hpp"
#include "state.hpp"
#include "subcommands.hpp"
#include "toml_reader.hpp"
#include "sysroot/kernel_features.hpp"
#include "sysroot/kernel_settings.hpp"

extern char** environ;

namespace lastgasp::setup {

namespace {

constexpr int kConsoleLoglevel = 8;  // every message, debug included, reaches the consoles
constexpr std::size_t kMaxBootOption = 255;

// Runs a program and waits for it; true when it exited with status 0.
bool run_program(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Before anything else, also in dry-run: `modprobe netconsole` and mounting
// configfs cannot help a kernel that was built without them.
void require_netconsole_kernel(const Sysroot& root) {
  if (root.is_dir(kNetconsoleConfigfs)) return;
  if (auto missing = netconsole_support(root).missing()) throw Error(*missing + "; " + kNetconsoleKernelAdvice);
}

// Loads netconsole and mounts configfs when they are missing. Under --root the
// tree must already have them: there is no kernel to ask.
void ensure_netconsole_configfs(Context& ctx) {
  Sysroot& root = ctx.root;
  if (root.is_dir(kNetconsoleConfigfs)) return;
  if (!root.live())
    throw Error(root.host_path(kNetconsoleConfigfs).string() +
                " does not exist: the tree given with --root must mimic configfs with netconsole loaded");
  if (root.dry_run()) {
    ctx.say("would load the netconsole module and mount configfs on /sys/kernel/config");
    return;
  }
  if (!is_mounted(root, "/sys/kernel/config", "configfs"))
    ::mount("configfs", "/sys/kernel/config", "configfs", 0, nullptr);  // checked below, after modprobe
  if (!run_program({"modprobe", "netconsole"}))
    throw Error("'modprobe netconsole' failed: install this kernel's modules (linux-image) or build "
                "CONFIG_NETCONSOLE");
  if (!is_mounted(root, "/sys/kernel/config", "configfs") &&
      ::mount("configfs", "/sys/kernel/config", "configfs", 0, nullptr) != 0)
    throw Error(std::string("cannot mount configfs on /sys/kernel/config: ") + std::strerror(errno));
  if (!root.is_dir(kNetconsoleConfigfs))
    throw Error("netconsole is loaded but /sys/kernel/config/netconsole is missing: this kernel lacks "
                "CONFIG_NETCONSOLE_DYNAMIC; use a kernel that has it");
}

bool sends_to(const NetconsoleTarget& target, const config::HostPort& receiver) {
  return same_value("remote_ip", target.read("remote_ip").value_or(""), receiver.host) &&
         target.read("remote_port").value_or("") == std::to_string(receiver.port);
}

// The configfs name of CONFIG's target. The one target that owns the boot option
// lives in cmdline0, which its netconsole= option makes at boot: the unit adopts
// it there, and later runs keep using it while it is this tool's.
std::string choose_target_name(const config::SenderConfig& config, const State& state, const NetconsoleRun& run) {
  if (config.netconsole.boot_option && run.at_boot) return kBootTargetName;
  return live_target_name(config.netconsole, state);
}

// Whether NAME is this tool's target, or no target yet. At boot, cmdline0 is the
// kernel's copy of our own netconsole= option.
bool ours_or_new(const Sysroot& root, const State& state, const std::string& name, const NetconsoleRun& run) {
  if (state.targets.contains(name) || !root.is_dir(std::string(kNetconsoleConfigfs) + "/" + name)) return true;
  return run.at_boot && name == kBootTargetName && state.files.contains(kNetconsoleModprobeFile);
}

// Another's target is never changed: `remove` could not give it back as it was.
void refuse_foreign_target(const Sysroot& root, const State& state, const std::string& name,
                           const NetconsoleRun& run) {
  if (ours_or_new(root, state, name, run)) return;
  throw Error("netconsole target '" + name + "' exists and was not made by lastgasp-setup, which never changes "
              "another's target: choose another --name, or remove it first (rmdir " +
              std::string(kNetconsoleConfigfs) + "/" + name + ")");
}

// Two targets to one receiver would deliver every message twice: drop our own
// older one, refuse when it is someone else's.
void remove_duplicate_targets(Context& ctx, State& state, const std::string& keep,
                              const config::HostPort& receiver) {
  for (const std::string& name : list_targets(ctx.root)) {
    NetconsoleTarget other(ctx.root, name);
    if (name == keep || !sends_to(other, receiver)) continue;
    if (!state.targets.contains(name))
      throw Error("netconsole target '" + name + "' (not made by lastgasp-setup) already sends to " +
                  config::format_host_port(receiver.host, receiver.port) +
                  ", and two targets would deliver every message twice: remove it first (rmdir " + other.dir() +
                  "), then run this again");
    ctx.say_change("remove", "target '" + name + "': '" + keep + "' now sends to the same receiver");
    other.remove();
    state.targets.erase(name);
  }
}

// kernel.printk's fields are tab-separated; people write them with spaces.
std::string spaced(std::string text) {
  std::replace(text.begin(), text.end(), '\t', ' ');
  return text;
}

struct KernelValue {
  std::string label;
  std::string path;
  std::string value;
  std::string persisted;  // the sysctl.d line, or "" when persisted elsewhere
};

std::vector<KernelValue> wanted_kernel_values(const Sysroot& root, const config::SenderConfig& config) {
  std::vector<KernelValue> values;
  if (auto printk = printk_with_console_loglevel(root, kConsoleLoglevel))
    values.push_back({"console loglevel (kernel.printk)", sysctl_path("kernel.printk"), *printk,
                      "kernel.printk = " + spaced(*printk)});
  if (!config.panic.knobs) return values;
  std::string timeout = std::to_string(config.panic.timeout);
  values.push_back({"kernel.panic (reboot after N s, so pstore can be collected)", sysctl_path("kernel.panic"),
                    timeout, "kernel.panic = " + timeout});
  values.push_back({"kernel.panic_on_oops", sysctl_path("kernel.panic_on_oops"), "1", "kernel.panic_on_oops = 1"});
  // With kdump loaded, the kernel kexecs before netconsole and pstore see the panic.
  if (kdump_loaded(root))
    values.push_back({"crash_kexec_post_notifiers (kdump is loaded)",
                      module_param_path("kernel", "crash_kexec_post_notifiers"), "Y", ""});
  return values;
}

nlohmann::json set_kernel_values(Context& ctx, State& state, const std::vector<KernelValue>& values) {
  nlohmann::json changed = nlohmann::json::array();
  for (const KernelValue& kv : values) {
    if (auto before = change_kernel_value(ctx.root, state, kv.path, kv.value)) {
      ctx.say_change("set", kv.label + ": " + spaced(*before) + " -> " + spaced(kv.value));
      changed.push_back({{"path", kv.path}, {"before", *before}, {"after", kv.value}});
    }
  }
  return changed;
}

void persist_kernel_values(Context& ctx, State& state, const std::vector<KernelValue>& values) {
  std::string sysctl = "# Written by lastgasp-setup: the console and panic settings that let a panic be caught.\n";
  std::string tmpfiles;
  for (const KernelValue& kv : values) {
    if (!kv.persisted.empty()) sysctl += kv.persisted + "\n";
    else tmpfiles += "w " + kv.path + " - - - - " + kv.value + "\n";
  }
  write_owned_file(ctx.root, state, kSysctlFile, sysctl);
  if (!tmpfiles.empty())
    write_owned_file(ctx.root, state, kTmpfilesFile, "# Written by lastgasp-setup.\n" + tmpfiles);
}

void persist_boot_option(Context& ctx, State& state, const std::string& option) {
  if (option.size() > kMaxBootOption)
    throw Error("the netconsole= option would be " + std::to_string(option.size()) +
                " bytes, over the kernel's 255: use a shorter device name or run with --no-persist");
  write_owned_file(ctx.root, state, kNetconsoleModprobeFile,
                   "# Written by lastgasp-setup: the boot-time target cmdline0, which replays the kernel's\n"
                   "# ring buffer to the receiver. The unit re-resolves the MAC and updates cmdline0.\n" +
                       modprobe_options("netconsole", {{"netconsole", option}}));
  write_owned_file(ctx.root, state, kNetconsoleModulesLoadFile,
                   "# Written by lastgasp-setup: load netconsole early, with its boot-time target.\n"
                   "netconsole\n");
  // Only loadable modules have initstate; a built-in netconsole never reads modprobe.d.
  if (ctx.root.exists("/sys/module/netconsole") && !ctx.root.exists("/sys/module/netconsole/initstate"))
    ctx.warn("netconsole is built into this kernel, so the modprobe.d option does not apply: for the replay "
             "at boot, add netconsole=" + option + " to the kernel command line");
}

// A saved target to CONFIG's receiver under another name goes when CONFIG's is
// saved: its live target was just removed as a duplicate, and at boot it would
// come back as one.
bool replaced_by(const config::SenderConfig::Netconsole& other, const config::SenderConfig& config) {
  return other.name != config.netconsole.name && other.to == config.netconsole.to;
}

// The name of the saved target that carries the boot option once CONFIG's is
// saved: the kernel makes one cmdline0, so the first to get it keeps it.
std::string boot_option_target(const config::SenderFile& saved, const config::SenderConfig& config) {
  for (const auto& other : saved.targets)
    if (other.boot_option && !replaced_by(other, config)) return other.name;
  return config.netconsole.name;
}

// Everything that brings the setup back after a reboot. SAVED already holds
// CONFIG's target among the others.
void persist_setup(Context& ctx, State& state, const config::SenderFile& saved, const config::SenderConfig& config,
                   const NetPath& path, const TargetFeatures& features,
                   const std::vector<KernelValue>& kernel_values) {
  persist_kernel_values(ctx, state, kernel_values);
  if (config.netconsole.boot_option) {
    persist_boot_option(ctx, state, format_boot_option(config, path, features.release));
  } else if (boot_option_target(saved, config) == config.netconsole.name) {  // no target has it
    remove_owned_file(ctx.root, state, kNetconsoleModprobeFile);
    remove_owned_file(ctx.root, state, kNetconsoleModulesLoadFile);
  }
  save_saved_targets(ctx.root, state, saved);
  install_unit(ctx.root, state);
  install_watch_unit(ctx.root, state);
  install_collect_unit(ctx.root, state);
}

// CONFIG's target into SAVED, in its place when it is there already.
void record_target(Context& ctx, config::SenderFile& saved, const config::SenderConfig& config) {
  std::erase_if(saved.targets, [&](const config::SenderConfig::Netconsole& other) {
    if (!replaced_by(other, config)) return false;
    ctx.say_change("remove", "'" + other.name + "' from " + kSenderConfigFile + ": '" + config.netconsole.name +
                                 "' now sends to the same receiver");
    return true;
  });
  auto same_name = std::find_if(saved.targets.begin(), saved.targets.end(),
                                [&](const auto& other) { return other.name == config.netconsole.name; });
  if (same_name != saved.targets.end()) *same_name = config.netconsole;
  else saved.targets.push_back(config.netconsole);
  saved.panic = config.panic;
}

void tell_outcome(const Context& ctx, const std::string& name, const config::HostPort& receiver,
                  const NetPath& path, bool changed) {
  std::string where = config::format_host_port(receiver.host, receiver.port) + " via " + path.device +
                      ", next hop " + path.next_hop + " (MAC " + path.mac +
                      (path.mac_origin == MacOrigin::kGiven ? ", given with --mac)" : ")");
  if (!changed) ctx.say("Nothing to change: netconsole target '" + name + "' already sends to " + where + ".");
  else if (ctx.root.dry_run()) ctx.say("Would send the console to " + where + ".");
  else ctx.say("netconsole target '" + name + "' sends the console to " + where + ".");
}

const char* mac_origin_name(MacOrigin origin) {
  switch (origin) {
    case MacOrigin::kGiven: return "given";
    case MacOrigin::kBroadcast: return "broadcast";
    case MacOrigin::kNeighbour: break;
  }
  return "neighbour";
}

nlohmann::json path_json(const NetPath& path) {
  return {{"receiver", path.receiver}, {"device", path.device}, {"source", path.source},
          {"gateway", path.gateway ? nlohmann::json(*path.gateway) : nlohmann::json(nullptr)},
          {"next_hop", path.next_hop}, {"mac", path.mac}, {"mac_origin", mac_origin_name(path.mac_origin)}};
}

// --to fe80::1%eth0 names the device as --dev does; both naming different ones is a mistake.
std::string device_from_zone(const std::string& zone, const std::string& dev) {
  if (zone.empty()) return dev;
  if (!dev.empty() && dev != zone)
    throw Error("--to names the device " + zone + " (after '%') and --dev names " + dev + ": give one of them");
  return zone;
}

}  // namespace

config::HostPort receiver_endpoint(const config::SenderConfig& config) {
  std::string error;
  auto endpoint = config::parse_host_port(config.netconsole.to, 6666, error);
  if (!endpoint) throw Error("bad receiver: " + error);
  return *endpoint;
}

std::string live_target_name(const config::SenderConfig::Netconsole& saved, const State& state) {
  return saved.boot_option && state.targets.contains(kBootTargetName) ? kBootTargetName : saved.name;
}

ResolveOptions resolve_options(const config::SenderConfig& config, std::chrono::milliseconds neighbour_timeout,
                               const Sysroot& root) {
  ResolveOptions options;
  if (!config.netconsole.dev.empty()) options.device = config.netconsole.dev;
  if (!config.netconsole.mac.empty()) options.mac = config.netconsole.mac;
  options.neighbour_timeout = neighbour_timeout;
  options.allow_broadcast = config.netconsole.allow_broadcast;
  options.send_probes = !root.dry_run();
  options.is_wireless = [&root](const std::string& dev) { return is_wireless(root, dev); };
  return options;
}

TargetRequest target_request(const config::SenderConfig& config, const NetPath& path, const Sysroot& root) {
  return {.dev_name = path.device,
          .local_ip = path.source,
          .remote_ip = path.receiver,
          .remote_mac = path.mac,
          .local_port = config.netconsole.src_port,
          .remote_port = receiver_endpoint(config).port,
          .extended = config.netconsole.extended,
          .hostname = root.read_trimmed("/proc/sys/kernel/hostname").value_or("")};
}

ResolvedReceiver resolve_receiver(const std::string& to) {
  std::string error;
  auto endpoint = config::parse_host_port(to, 6666, error);
  if (!endpoint) throw Error("bad --to " + error);
  ResolvedReceiver resolved;
  std::string& host = endpoint->host;
  if (auto percent = host.find('%'); percent != std::string::npos && host.find(':') < percent) {
    resolved.zone = host.substr(percent + 1);
    host.erase(percent);
  }
  if (resolved.zone.find(':') != std::string::npos)
    throw Error("bad --to '" + to + "': with a port, write a zoned address as [ADDR%DEV]:PORT");
  if (config::is_ip_address(host)) {
    resolved.to = config::format_host_port(host, endpoint->port);
    return resolved;
  }
  // Host names have no colons: this was meant as an IPv6 address.
  if (endpoint->bracketed || host.find(':') != std::string::npos)
    throw Error("bad --to '" + to + "': '" + host + "' is not an IPv6 address" +
                (endpoint->bracketed ? "" : "; with a port, write it as [ADDR]:PORT"));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (int err = getaddrinfo(endpoint->host.c_str(), nullptr, &hints, &found); err != 0)
    throw Error("cannot resolve the receiver '" + endpoint->host + "': " + gai_strerror(err) +
                "; give its address instead");
  char text[INET6_ADDRSTRLEN] = {};
  const void* bytes = found->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr);
  inet_ntop(found->ai_family, bytes, text, sizeof text);
  freeaddrinfo(found);
  resolved.from_name = host;
  resolved.to = config::format_host_port(text, endpoint->port);
  return resolved;
}

std::string format_boot_option(const config::SenderConfig& config, const NetPath& path, bool release) {
  const auto& nc = config.netconsole;
  std::string flags = nc.extended ? (release ? "+r" : "+") : "";
  return flags + std::to_string(nc.src_port) + "@" + path.source + "/" + path.device + "," +
         std::to_string(receiver_endpoint(config).port) + "@" + path.receiver + "/" + path.mac;
}

nlohmann::json configure_netconsole(config::SenderConfig config, const NetconsoleRun& run, Context& ctx) {
  require_netconsole_kernel(ctx.root);
  config::HostPort receiver = receiver_endpoint(config);
  ResolveOptions options = resolve_options(config, run.neighbour_timeout, ctx.root);
  Netlink netlink;
  NetPath path;
  retry_with_backoff(ctx, run.retry, [&] { path = resolve_path(netlink, receiver.host, options); });
  return apply_netconsole(std::move(config), path, run, ctx);
}

nlohmann::json apply_netconsole(config::SenderConfig config, const NetPath& path, const NetconsoleRun& run,
                                Context& ctx) {
  Sysroot& root = ctx.root;
  config::HostPort receiver = receiver_endpoint(config);
  if (path.mac_origin == MacOrigin::kBroadcast)
    ctx.warn("the MAC of " + path.next_hop + " did not resolve, so the target uses the broadcast MAC: every host "
             "on " + path.device + "'s segment gets the console, and switches may drop it");

  ensure_netconsole_configfs(ctx);
  State state = load_state(root);
  config::SenderFile saved = load_saved_targets(root);
  const config::SenderConfig::Netconsole* saved_entry = saved.find(config.netconsole.name);
  config.netconsole.boot_option = saved_entry && saved_entry->boot_option;
  std::string name = choose_target_name(config, state, run);
  refuse_foreign_target(root, state, name, run);
  remove_duplicate_targets(ctx, state, name, receiver);

  NetconsoleTarget target(root, name);
  ApplyResult applied = target.apply(target_request(config, path, root));
  state.targets.insert(name);
  for (const AttributeChange& change : applied.changes)
    ctx.say_change("set", "target '" + name + "' " + change.attribute + ": '" + change.before + "' -> '" +
                              change.after + "'");

  std::vector<KernelValue> kernel_values = wanted_kernel_values(root, config);
  nlohmann::json settings = set_kernel_values(ctx, state, kernel_values);

  // configfs shows boot-time targets only on kernels that can adopt them
  // (cmdline0, v6.7); userdata (v6.9) proves a kernel at least that new. The
  // kernel makes one cmdline0, so one saved target at most carries the option.
  bool kernel_adopts = root.is_dir(std::string(kNetconsoleConfigfs) + "/" + kBootTargetName) ||
                       applied.features.userdata;
  std::string boot_option_owner_name = boot_option_target(saved, config);
  config.netconsole.boot_option = kernel_adopts && boot_option_owner_name == config.netconsole.name;
  if (run.persist) {
    record_target(ctx, saved, config);
    persist_setup(ctx, state, saved, config, path, applied.features, kernel_values);
  }
  // Always recorded, persisted or not: `remove` must find everything this run changed.
  save_state(root, state);

  bool changed = root.change_count() > 0;
  tell_outcome(ctx, name, receiver, path, changed);
  if (applied.transmit_errors) ctx.say("transmit_errors: " + *applied.transmit_errors);
  if (changed && run.persist && !config.netconsole.boot_option)
    ctx.say(kernel_adopts ? "Persisted with the boot-time unit alone: early boot messages are replayed to '" +
                                boot_option_owner_name + "' only, since the kernel makes one boot-time target."
                          : "Persisted with the boot-time unit alone: this kernel cannot adopt a boot-time target, "
                            "so early boot messages are not replayed to the receiver.");

  nlohmann::json attributes = nlohmann::json::array();
  for (const AttributeChange& c : applied.changes)
    attributes.push_back({{"attribute", c.attribute}, {"before", c.before}, {"after", c.after}});
  return {{"changed", changed},
          {"dry_run", root.dry_run()},
          {"target", name},
          {"created", applied.created},
          {"path", path_json(path)},
          {"attributes", attributes},
          {"settings", settings},
          {"boot_option", config.netconsole.boot_option},
          {"transmit_errors", applied.transmit_errors ? nlohmann::json(*applied.transmit_errors) : nlohmann::json(nullptr)}};
}

SubcommandRun define_netconsole(CLI::App& command) {
  struct Options {
    std::string to, dev, mac, name = "lastgasp";
    int src_port = 6665, panic_timeout = 10;
    bool plain = false, no_panic_knobs = false, allow_broadcast = false, no_persist = false;
  };
  auto o = std::make_shared<Options>();
  command.add_option("--to", o->to, "the receiver, HOST[:PORT] ([IPv6]:PORT); port 6666 by default")->required();
  command.add_option("--dev", o->dev, "send through this interface instead of the route's");
  command.add_option("--name", o->name, "the configfs target's name")->capture_default_str();
  command.add_option("--src-port", o->src_port, "the UDP source port")->check(CLI::Range(1, 65535))->capture_default_str();
  command.add_flag("--plain", o->plain, "the legacy format instead of the extended one");
  command.add_option("--panic-timeout", o->panic_timeout, "kernel.panic: reboot this many seconds after a panic")
      ->check(CLI::Range(1, 86400))->capture_default_str();
  command.add_flag("--no-panic-knobs", o->no_panic_knobs, "leave kernel.panic, panic_on_oops and post-notifiers alone");
  auto* allow_broadcast =
      command.add_flag("--allow-broadcast", o->allow_broadcast, "use the broadcast MAC if the receiver's does not resolve");
  command.add_option("--mac", o->mac, "the next hop's MAC, where the kernel cannot learn it (ARP off)")
      ->excludes(allow_broadcast);
  command.add_flag("--no-persist", o->no_persist,
                   "change the running system only: write no configuration (what changed is still recorded, "
                   "for remove)");
  return [o](Context& ctx) {
    if (o->name.empty() || o->name.find('/') != std::string::npos || o->name == "." || o->name == "..")
      throw Error("bad --name '" + o->name + "': a target name is a plain directory name");
    config::SenderConfig config;
    ResolvedReceiver receiver = resolve_receiver(o->to);
    config.netconsole.to = receiver.to;
    config.netconsole.to_name = receiver.from_name;
    config.netconsole.name = o->name;
    config.netconsole.dev = device_from_zone(receiver.zone, o->dev);
    if (!o->mac.empty()) {
      std::string error;
      auto mac = config::parse_unicast_mac(o->mac, error);
      if (!mac) throw Error("bad --mac: " + error);
      config.netconsole.mac = *mac;
    }
    config.netconsole.src_port = static_cast<std::uint16_t>(o->src_port);
    config.netconsole.extended = !o->plain;
    config.netconsole.allow_broadcast = o->allow_broadcast;
    config.panic.knobs = !o->no_panic_knobs;
    config.panic.timeout = o->panic_timeout;
    nlohmann::json report = configure_netconsole(config, {.persist = !o->no_persist}, ctx);
    if (ctx.json) ctx.print_json(report);
    return kExitOk;
  };
}

namespace {

// Every saved target, each its own transaction: a receiver that cannot be
// reached at boot must not keep the others from coming back. The exit status
// still says that one failed. With RETRY_FOR, each target's path is tried again
// inside its own transaction, for up to that long, before it is given up.
int apply_saved_targets(Context& ctx, const std::string& file, std::chrono::seconds retry_for) {
  config::SenderFile saved;
  try {
    saved = config::load_sender_file(ctx.root.host_path(file));
  } catch (const config::ConfigError& e) {
    throw Error(e.what());
  }
  nlohmann::json reports = nlohmann::json::array();
  int status = kExitOk;
  for (std::size_t i = 0; i < saved.targets.size(); ++i) {
    try {
      NetconsoleRun run{.persist = true, .at_boot = true};
      run.retry.total = retry_for;
      // The kernel log names the target when there are several to tell apart.
      if (saved.targets.size() > 1) run.retry.label = "netconsole target '" + saved.targets[i].name + "'";
      reports.push_back(configure_netconsole(saved.config(i), run, ctx));
      ctx.root.commit();
    } catch (const std::exception& e) {
      ctx.fail_and_roll_back("apply", "target '" + saved.targets[i].name + "': " + e.what());
      reports.push_back({{"target", saved.targets[i].name}, {"error", e.what()}});
      status = kExitError;
    }
  }
  if (ctx.json) ctx.print_json({{"targets", reports}});
  return status;
}

}  // namespace

SubcommandRun define_apply(CLI::App& command) {
  auto file = std::make_shared<std::string>(kSenderConfigFile);
  auto retry_for = std::make_shared<int>(0);
  command.add_option("--config", *file, "the settings to apply (under --root, like every path)")
      ->capture_default_str();
  command.add_option("--retry-for", *retry_for,
                     "keep trying each target's path to the receiver for up to this many seconds, with backoff, "
                     "logging each failure to the kernel log (the boot unit uses 300)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  return [file, retry_for](Context& ctx) {
    return apply_saved_targets(ctx, *file, std::chrono::seconds(*retry_for));
  };
}

}  // namespace lastgasp::setup
