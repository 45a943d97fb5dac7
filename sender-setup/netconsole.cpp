#include "netconsole.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <numeric>
#include <set>

#include "boot_option.hpp"
#include "boot_retry.hpp"
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
// How long a run waits for a next hop's MAC to resolve.
constexpr std::chrono::milliseconds kNeighbourTimeout{3000};

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

// The configfs name of CONFIG's target. A target with the boot option lives in
// the boot-time target its entry in the netconsole= option makes (cmdlineN for
// the Nth): the unit adopts it there, and later runs keep using it while it is
// this tool's. SAVED is the file before this run.
std::string choose_target_name(const config::SenderConfig& config, const config::SenderFile& saved,
                               const Sysroot& root, const State& state, const NetconsoleRun& run) {
  if (config.netconsole.boot_option && run.at_boot)
    return boot_target_name(boot_index(saved, config.netconsole.name));
  const config::SenderConfig::Netconsole* before = saved.find(config.netconsole.name);
  return live_target_name(root, before ? *before : config.netconsole, state);
}

// Whether NAME is this tool's target, or no target yet. At boot, cmdlineN is the
// kernel's copy of an entry of our own netconsole= option.
bool ours_or_new(const Sysroot& root, const State& state, const std::string& name, const NetconsoleRun& run) {
  if (state.targets.contains(name) || !root.is_dir(std::string(kNetconsoleConfigfs) + "/" + name)) return true;
  return run.at_boot && is_boot_target_name(name) && state.files.contains(kNetconsoleModprobeFile);
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

// A saved target to CONFIG's receiver under another name goes when CONFIG's is
// saved: its live target was just removed as a duplicate, and at boot it would
// come back as one.
bool replaced_by(const config::SenderConfig::Netconsole& other, const config::SenderConfig& config) {
  return other.name != config.netconsole.name && other.to == config.netconsole.to;
}

// Everything that brings the setup back after a reboot. RECORD's sender.toml
// already holds CONFIG's target among the others; its boot_option is dropped
// there when its entry does not fit in the netconsole= option.
void persist_setup(Context& ctx, SetupRecord& record, const config::SenderConfig& config, const NetPath& path,
                   const TargetFeatures& features, const std::vector<KernelValue>& kernel_values) {
  State& state = record.state;
  persist_kernel_values(ctx, state, kernel_values);
  record.boot_entries[config.netconsole.name] = format_boot_option(config, path, features.release);
  write_boot_option(ctx, state, record.saved, record.boot_entries);
  save_saved_targets(ctx.root, state, record.saved);
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

NetPath resolve_receiver_path(Netlink& netlink, const config::SenderConfig& config,
                              std::chrono::milliseconds neighbour_timeout, const Sysroot& root) {
  return resolve_path(netlink, receiver_endpoint(config).host, resolve_options(config, neighbour_timeout, root));
}

SetupRecord load_setup_record(Context& ctx) {
  ensure_netconsole_configfs(ctx);
  return {.state = load_state(ctx.root), .saved = load_saved_targets(ctx.root), .boot_entries = {}};
}

nlohmann::json apply_netconsole(config::SenderConfig config, const NetPath& path, const NetconsoleRun& run,
                                Context& ctx) {
  SetupRecord record = load_setup_record(ctx);
  return apply_netconsole(std::move(config), path, run, ctx, record);
}

nlohmann::json apply_netconsole(config::SenderConfig config, const NetPath& path, const NetconsoleRun& run,
                                Context& ctx, SetupRecord& record) {
  Sysroot& root = ctx.root;
  const std::size_t changes_before = root.change_count();
  config::HostPort receiver = receiver_endpoint(config);
  if (path.mac_origin == MacOrigin::kBroadcast)
    ctx.warn("the MAC of " + path.next_hop + " did not resolve, so the target uses the broadcast MAC: every host "
             "on " + path.device + "'s segment gets the console, and switches may drop it");

  State& state = record.state;
  config::SenderFile& saved = record.saved;
  const config::SenderConfig::Netconsole* saved_entry = saved.find(config.netconsole.name);
  config.netconsole.boot_option = saved_entry && saved_entry->boot_option;
  std::string name = choose_target_name(config, saved, root, state, run);
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
  // (cmdline0, v6.7); userdata (v6.9) proves a kernel at least that new.
  bool kernel_adopts = root.is_dir(std::string(kNetconsoleConfigfs) + "/" + boot_target_name(0)) ||
                       applied.features.userdata;
  config.netconsole.boot_option = kernel_adopts && run.persist;
  if (run.persist) {
    record_target(ctx, saved, config);
    persist_setup(ctx, record, config, path, applied.features, kernel_values);
    config.netconsole.boot_option = saved.find(config.netconsole.name)->boot_option;
  }
  // Always recorded, persisted or not: `remove` must find everything this run changed.
  save_state(root, state);

  bool changed = root.change_count() > changes_before;
  tell_outcome(ctx, name, receiver, path, changed);
  if (applied.transmit_errors) ctx.say("transmit_errors: " + *applied.transmit_errors);
  if (changed && run.persist && !kernel_adopts)
    ctx.say("Persisted with the boot-time unit alone: this kernel cannot adopt a boot-time target, so early boot "
            "messages are not replayed to the receiver.");

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

namespace {

struct NetconsoleOptions {
  std::vector<std::string> to;
  std::string dev, mac, name = "lastgasp";
  int src_port = 6665, panic_timeout = 10;
  bool plain = false, no_panic_knobs = false, allow_broadcast = false, no_persist = false;
};

// The configfs name of the Ith receiver (from 0) of a run named NAME: NAME,
// then NAME-2, NAME-3...
std::string receiver_target_name(const std::string& name, std::size_t i) {
  return i == 0 ? name : name + "-" + std::to_string(i + 1);
}

// Whether CANDIDATE is NAME-K for a K beyond COUNT receivers: a target an
// earlier run with more --to made, that this run no longer wants.
bool beyond_receivers(const std::string& candidate, const std::string& name, std::size_t count) {
  if (!candidate.starts_with(name + "-")) return false;
  std::string number = candidate.substr(name.size() + 1);
  if (number.empty() || number.size() > 4 || number.front() == '0' ||
      !std::all_of(number.begin(), number.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  return static_cast<std::size_t>(std::stoi(number)) > count;
}

// One SenderConfig per --to, in the order given. Throws Error on bad input.
std::vector<config::SenderConfig> receiver_configs(const NetconsoleOptions& o) {
  if (o.name.empty() || o.name.find('/') != std::string::npos || o.name == "." || o.name == "..")
    throw Error("bad --name '" + o.name + "': a target name is a plain directory name");
  // --mac is one next hop's MAC; several receivers may each have their own.
  if (!o.mac.empty() && o.to.size() > 1)
    throw Error("--mac names one next hop's MAC, and there are " + std::to_string(o.to.size()) +
                " receivers: set up the one that needs it in a run of its own, with its own --name");
  std::vector<config::SenderConfig> configs;
  for (std::size_t i = 0; i < o.to.size(); ++i) {
    config::SenderConfig config;
    ResolvedReceiver receiver = resolve_receiver(o.to[i]);
    for (const config::SenderConfig& earlier : configs)
      if (earlier.netconsole.to == receiver.to)
        throw Error("--to " + o.to[i] + " is the receiver " + receiver.to + " a second time: give each once");
    config.netconsole.to = receiver.to;
    config.netconsole.to_name = receiver.from_name;
    config.netconsole.name = receiver_target_name(o.name, i);
    config.netconsole.dev = device_from_zone(receiver.zone, o.dev);
    if (!o.mac.empty()) {
      std::string error;
      auto mac = config::parse_unicast_mac(o.mac, error);
      if (!mac) throw Error("bad --mac: " + error);
      config.netconsole.mac = *mac;
    }
    config.netconsole.src_port = static_cast<std::uint16_t>(o.src_port);
    config.netconsole.extended = !o.plain;
    config.netconsole.allow_broadcast = o.allow_broadcast;
    config.panic.knobs = !o.no_panic_knobs;
    config.panic.timeout = o.panic_timeout;
    configs.push_back(std::move(config));
  }
  return configs;
}

// Every receiver's path, before anything is changed: with one that cannot be
// reached, the run fails naming each such receiver and why, and changes nothing.
std::vector<NetPath> resolve_every_path(const std::vector<config::SenderConfig>& configs, Context& ctx) {
  require_netconsole_kernel(ctx.root);
  Netlink netlink;
  std::vector<NetPath> paths;
  std::string failures;
  std::size_t failed = 0;
  for (const config::SenderConfig& config : configs) {
    try {
      paths.push_back(resolve_receiver_path(netlink, config, kNeighbourTimeout, ctx.root));
    } catch (const Error& e) {
      if (configs.size() == 1) throw;
      ++failed;
      failures += "\n  receiver " + config.netconsole.to + " (target '" + config.netconsole.name + "'): " + e.what();
    }
  }
  if (failed > 0)
    throw Error(std::to_string(failed) + " of " + std::to_string(configs.size()) +
                " receivers cannot be reached, so none was set up:" + failures);
  return paths;
}

// The targets NAME-K an earlier run with more --to made, saved and live: a run
// says which receivers there are, and these are no longer among them. Returns
// the names dropped (as saved, or as live when not saved).
nlohmann::json drop_targets_beyond(Context& ctx, const std::string& name, std::size_t count, bool persist,
                                   SetupRecord& record) {
  State& state = record.state;
  config::SenderFile& saved = record.saved;
  nlohmann::json dropped = nlohmann::json::array();
  std::map<std::string, std::string> live;  // live target -> the name it is dropped as
  for (const std::string& target : state.targets)
    if (beyond_receivers(target, name, count)) live.emplace(target, target);
  for (const auto& entry : saved.targets) {
    if (!persist || !beyond_receivers(entry.name, name, count)) continue;
    std::string target = live_target_name(ctx.root, entry, state);
    if (state.targets.contains(target)) live[target] = entry.name;
    ctx.say_change("remove", "'" + entry.name + "' (to " + entry.to + ") from " + kSenderConfigFile +
                                 ": no longer among the receivers given with --to");
    dropped.push_back(entry.name);
  }
  for (const auto& [target, as] : live) {
    NetconsoleTarget(ctx.root, target).remove();
    state.targets.erase(target);
    ctx.say_change("remove", "netconsole target '" + target + "': no longer among the receivers given with --to");
    if (as == target && !saved.find(target)) dropped.push_back(target);
  }
  if (dropped.size() > 0 && persist) {
    std::erase_if(saved.targets, [&](const auto& entry) { return beyond_receivers(entry.name, name, count); });
    write_boot_option(ctx, state, saved, record.boot_entries);
    save_saved_targets(ctx.root, state, saved);
  }
  save_state(ctx.root, state);
  return dropped;
}

// `netconsole --to A [--to B ...]`: one target per receiver, all in one
// transaction. The report is {changed, dry_run, targets: [one per --to], dropped}.
int run_netconsole(const NetconsoleOptions& o, Context& ctx) {
  std::vector<config::SenderConfig> configs = receiver_configs(o);
  std::vector<NetPath> paths = resolve_every_path(configs, ctx);
  // One record for every receiver: each sees the others, also in a dry run.
  SetupRecord record = load_setup_record(ctx);
  nlohmann::json targets = nlohmann::json::array();
  for (std::size_t i = 0; i < configs.size(); ++i)
    targets.push_back(apply_netconsole(configs[i], paths[i], {.persist = !o.no_persist}, ctx, record));
  nlohmann::json dropped = drop_targets_beyond(ctx, o.name, configs.size(), !o.no_persist, record);
  if (configs.size() > 1 && !ctx.root.dry_run())
    ctx.say("The console goes to " + std::to_string(configs.size()) + " receivers, one target each: a panic reaches "
            "every one that is up. 'lastgasp-setup check' says whether each is ready.");
  if (ctx.json)
    ctx.print_json({{"changed", ctx.root.change_count() > 0}, {"dry_run", ctx.root.dry_run()},
                    {"targets", targets}, {"dropped", dropped}});
  return kExitOk;
}

}  // namespace

SubcommandRun define_netconsole(CLI::App& command) {
  auto o = std::make_shared<NetconsoleOptions>();
  command.add_option("--to", o->to,
                     "a receiver, HOST[:PORT] ([IPv6]:PORT); port 6666 by default. Give it once per receiver: "
                     "each gets its own target")
      ->required()
      ->allow_extra_args(false);
  command.add_option("--dev", o->dev, "send through this interface instead of the route's");
  command.add_option("--name", o->name,
                     "the configfs target's name; with several --to, the others are NAME-2, NAME-3...")
      ->capture_default_str();
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
  return [o](Context& ctx) { return run_netconsole(*o, ctx); };
}

namespace {

// One saved target whose path is known, in its own transaction: its report, or
// its error (said, and undone).
nlohmann::json apply_saved_target(Context& ctx, const config::SenderConfig& config, const NetPath& path) {
  try {
    nlohmann::json report = apply_netconsole(config, path, {.persist = true, .at_boot = true}, ctx);
    ctx.root.commit();
    return report;
  } catch (const std::exception& e) {
    ctx.fail_and_roll_back("apply", "target '" + config.netconsole.name + "': " + e.what());
    return {{"target", config.netconsole.name}, {"error", e.what()}};
  }
}

// Every saved target, each its own transaction: a receiver that cannot be
// reached at boot must not keep the others from coming back, nor keep them
// waiting. Each round resolves every target still pending and applies those
// that resolved at once; with RETRY_FOR, the rest are tried again with backoff,
// all within that one bound. The exit status still says that one failed.
int apply_saved_targets(Context& ctx, const std::string& file, std::chrono::seconds retry_for) {
  config::SenderFile saved;
  try {
    saved = config::load_sender_file(ctx.root.host_path(file));
  } catch (const config::ConfigError& e) {
    throw Error(e.what());
  }
  require_netconsole_kernel(ctx.root);
  Netlink netlink;
  std::vector<nlohmann::json> reports(saved.targets.size());
  std::vector<std::size_t> pending(saved.targets.size());
  std::iota(pending.begin(), pending.end(), 0);
  std::map<std::size_t, std::string> unresolved;
  RetryPolicy retry{.total = retry_for};
  try {
    retry_with_backoff(ctx, retry, [&] {
      unresolved.clear();
      for (std::size_t i : pending) {
        config::SenderConfig config = saved.config(i);
        try {
          NetPath path = resolve_receiver_path(netlink, config, kNeighbourTimeout, ctx.root);
          reports[i] = apply_saved_target(ctx, config, path);
        } catch (const Error& e) {
          unresolved[i] = e.what();
        }
      }
      pending.clear();
      std::string failures;
      for (const auto& [i, error] : unresolved) {
        pending.push_back(i);
        failures += (failures.empty() ? "" : "; ") +
                    (saved.targets.size() > 1 ? "target '" + saved.targets[i].name + "': " : std::string()) + error;
      }
      if (!pending.empty()) throw Error(failures);
    });
  } catch (const Error&) {
    // Said by retry_with_backoff when it gave up; each target is said below.
  }
  int status = kExitOk;
  for (const auto& [i, error] : unresolved) {
    ctx.err << "lastgasp-setup apply: target '" << saved.targets[i].name << "': " << error << '\n';
    reports[i] = {{"target", saved.targets[i].name}, {"error", error}};
  }
  for (const nlohmann::json& report : reports)
    if (report.contains("error")) status = kExitError;
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
