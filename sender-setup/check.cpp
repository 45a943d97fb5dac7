// `lastgasp-setup check`: is this host ready to be caught? One item per fact,
// each ok, warn or fail, with the fix. Anything that keeps the console from
// reaching the receiver fails; what only loses the record after the fact warns.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "collect.hpp"
#include "configfs/netconsole_target.hpp"
#include "netconsole.hpp"
#include "netlink/path_resolver.hpp"
#include "persistence.hpp"
#include "pstore_probe.hpp"
#include "state.hpp"
#include "subcommands.hpp"
#include "sysroot/kernel_features.hpp"
#include "sysroot/kernel_settings.hpp"

namespace lastgasp::setup {

namespace {

constexpr const char* kSetupHint = "lastgasp-setup netconsole --to RECEIVER";

struct Item {
  std::string id;
  std::string state;  // ok, warn, fail
  std::string value;
  std::string fix;
};

class Report {
 public:
  void ok(std::string id, std::string value) { items_.push_back({std::move(id), "ok", std::move(value), ""}); }
  void warn(std::string id, std::string value, std::string fix) {
    items_.push_back({std::move(id), "warn", std::move(value), std::move(fix)});
  }
  void fail(std::string id, std::string value, std::string fix) {
    items_.push_back({std::move(id), "fail", std::move(value), std::move(fix)});
  }
  bool ready() const {
    return std::none_of(items_.begin(), items_.end(), [](const Item& i) { return i.state == "fail"; });
  }
  // The first failed item whose id is one of IDS or starts with one of PREFIXES.
  const Item* first_failure(const std::vector<std::string>& ids, const std::vector<std::string>& prefixes) const {
    for (const Item& i : items_) {
      if (i.state != "fail") continue;
      if (std::find(ids.begin(), ids.end(), i.id) != ids.end()) return &i;
      for (const std::string& prefix : prefixes)
        if (i.id.starts_with(prefix)) return &i;
    }
    return nullptr;
  }
  void set_receivers(nlohmann::json receivers) { receivers_ = std::move(receivers); }
  nlohmann::json json() const {
    nlohmann::json items = nlohmann::json::array();
    for (const Item& i : items_)
      items.push_back({{"id", i.id}, {"state", i.state}, {"value", i.value},
                       {"fix", i.fix.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.fix)}});
    return {{"ready", ready()}, {"receivers", receivers_}, {"items", items}};
  }
  void print(std::ostream& out) const {
    for (const Item& i : items_) {
      out << (i.state == "ok" ? "ok  " : i.state) << "  " << i.id << ": " << i.value << "\n";
      if (!i.fix.empty()) out << "      fix: " << i.fix << "\n";
    }
    std::string whom = receivers_.size() > 1 ? "all " + std::to_string(receivers_.size()) + " receivers"
                                             : std::string("the receiver");
    out << (ready() ? "Ready: a panic on this host reaches " + whom + ".\n"
                    : std::string("Not ready: fix the items marked fail.\n"));
  }

 private:
  std::vector<Item> items_;
  nlohmann::json receivers_ = nlohmann::json::array();
};

// What the kernel lacks is said as such: `modprobe netconsole` and mounting
// configfs are offered only where they can work.
void check_netconsole_module(const Sysroot& root, const NetconsoleSupport& kernel, Report& report) {
  if (root.exists("/sys/module/netconsole")) report.ok("netconsole.module", "loaded");
  else if (kernel.netconsole.absent())
    report.fail("netconsole.module", "this kernel has no netconsole: " + kernel.netconsole.evidence,
                kNetconsoleKernelAdvice);
  else report.fail("netconsole.module", "not loaded", kSetupHint + std::string(" (loads it), or modprobe netconsole"));
}

void check_netconsole_configfs(const Sysroot& root, const NetconsoleSupport& kernel, Report& report) {
  const char* id = "netconsole.configfs";
  bool mounted = is_mounted(root, "/sys/kernel/config", "configfs");
  if (root.is_dir(kNetconsoleConfigfs)) report.ok(id, kNetconsoleConfigfs);
  else if (!mounted && kernel.configfs.absent())
    report.fail(id, "this kernel has no configfs: " + kernel.configfs.evidence, kNetconsoleKernelAdvice);
  else if (kernel.dynamic.absent())
    report.fail(id, "this kernel's netconsole has no configfs targets: " + kernel.dynamic.evidence,
                kNetconsoleKernelAdvice);
  else if (!mounted) report.fail(id, "configfs not mounted", "mount -t configfs none /sys/kernel/config");
  else if (kernel.netconsole.absent()) report.fail(id, "no netconsole directory in configfs", kNetconsoleKernelAdvice);
  else if (root.exists("/sys/module/netconsole"))
    report.fail(id, "netconsole is loaded but has no configfs directory (no CONFIG_NETCONSOLE_DYNAMIC)",
                kNetconsoleKernelAdvice);
  else report.fail(id, "no netconsole directory in configfs", kSetupHint + std::string(" (loads netconsole)"));
}

void check_netconsole_support(const Sysroot& root, Report& report) {
  // A netconsole directory in configfs is the kernel's own answer: nothing to look up.
  NetconsoleSupport kernel = root.is_dir(kNetconsoleConfigfs) ? NetconsoleSupport{} : netconsole_support(root);
  check_netconsole_module(root, kernel, report);
  check_netconsole_configfs(root, kernel, report);
}

// The MAC given with --mac for TARGET's receiver, as its [[netconsole]] table in
// sender.toml keeps it: where ARP is off the kernel cannot confirm a MAC, and
// only this says it was meant.
std::optional<std::string> given_mac(const Sysroot& root, const NetconsoleTarget& target) {
  if (!root.exists(kSenderConfigFile)) return std::nullopt;
  try {
    config::SenderFile saved = config::load_sender_file(root.host_path(kSenderConfigFile));
    for (std::size_t i = 0; i < saved.targets.size(); ++i) {
      config::SenderConfig config = saved.config(i);
      config::HostPort receiver = receiver_endpoint(config);
      if (config.netconsole.mac.empty() ||
          !same_value("remote_ip", target.read("remote_ip").value_or(""), receiver.host) ||
          target.read("remote_port").value_or("") != std::to_string(receiver.port))
        continue;
      return config.netconsole.mac;
    }
    return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable settings confirm nothing; the MAC item then fails on its own
  }
}

struct TargetMac {
  std::string id;
  std::string mac;        // the target's remote_mac
  std::string next_hop;
  std::optional<std::string> given;  // from --mac
};

void report_mac(const TargetMac& t, const LinkInfo& link, const std::optional<Neighbour>& current,
                Report& report) {
  std::string refresh = "lastgasp-setup apply (or " + std::string(kSetupHint) + ") to write the current MAC";
  std::string give = "lastgasp-setup netconsole --mac MAC-OF-" + t.next_hop + " --to RECEIVER";
  auto unresolved = current ? unresolved_neighbour_reason(*current, link, t.next_hop) : std::nullopt;
  if (t.mac == kBroadcastMac)
    report.warn(t.id, t.mac + " (broadcast)", "routers and some switches drop it: " + refresh);
  else if (t.mac == link.mac)
    report.fail(t.id, t.mac + " is " + link.name + "'s own MAC, not the MAC of next hop " + t.next_hop, give);
  else if (t.given && same_value("remote_mac", t.mac, *t.given) && current && !unresolved && current->mac != t.mac)
    report.fail(t.id, t.mac + " (given with --mac) is wrong: next hop " + t.next_hop + " answers as " + current->mac,
                refresh + ", without --mac");
  else if (t.given && same_value("remote_mac", t.mac, *t.given))
    report.ok(t.id, t.mac + " (given with --mac; next hop " + t.next_hop + ")");
  else if (!current)
    report.fail(t.id, t.mac + "; next hop " + t.next_hop + " does not resolve on " + link.name,
                "check that " + t.next_hop + " is up, then " + refresh);
  else if (unresolved)
    report.fail(t.id, t.mac + "; " + *unresolved, give);
  else if (!same_value("remote_mac", t.mac, current->mac))
    report.fail(t.id, t.mac + " is stale: next hop " + t.next_hop + " is now " + current->mac, refresh);
  else
    report.ok(t.id, t.mac + " (next hop " + t.next_hop + ")");
}

// A stale remote_mac is the most common silent failure: netpoll never ARPs. The
// route is asked as the target sends: out of its device, from its source, so a
// receiver the device does not reach, or a broadcast or multicast one, fails here.
void check_target_mac(const Sysroot& root, Netlink& netlink, NetconsoleTarget& target, const LinkInfo& link,
                      Report& report) {
  TargetMac t{.id = "target." + target.name() + ".mac", .mac = target.read("remote_mac").value_or(""),
              .next_hop = "", .given = given_mac(root, target)};
  std::string remote = target.read("remote_ip").value_or("");
  try {
    Route route = netlink.route_to(
        {.destination = remote, .oif = link.ifindex, .source = target.read("local_ip").value_or("")});
    t.next_hop = route.gateway.value_or(remote);
    auto current = wait_for_neighbour(netlink, link, route, remote, std::chrono::milliseconds(2000));
    report_mac(t, link, current, report);
  } catch (const std::exception& e) {
    report.fail(t.id, t.mac + "; " + e.what(), kSetupHint);
  }
}

void check_target(Sysroot& root, Netlink* netlink, const std::string& name, Report& report) {
  NetconsoleTarget target(root, name);
  std::string prefix = "target." + name + ".";
  if (target.enabled()) report.ok(prefix + "enabled", "1");
  else report.fail(prefix + "enabled", "0", "lastgasp-setup apply; the kernel disables a target whose device joins a bond or bridge");

  std::string dev = target.read("dev_name").value_or("");
  std::optional<LinkInfo> link = netlink ? netlink->link_by_name(dev) : std::nullopt;
  if (!link) {
    report.fail(prefix + "device", dev + " (not found)", "lastgasp-setup netconsole --dev IFACE --to RECEIVER");
  } else if (auto reason = unusable_device_reason(*link, is_wireless(root, dev))) {
    report.fail(prefix + "device", dev, *reason);
  } else {
    report.ok(prefix + "device", dev);
  }

  std::string remote = target.read("remote_ip").value_or("") + " port " + target.read("remote_port").value_or("");
  bool no_remote = same_value("remote_ip", target.read("remote_ip").value_or(""), "0.0.0.0");
  if (no_remote) report.fail(prefix + "remote", remote, kSetupHint);
  else report.ok(prefix + "remote", remote);

  if (link && netlink && !no_remote) check_target_mac(root, *netlink, target, *link, report);
  if (auto errors = target.read("transmit_errors")) {
    if (*errors == "0") report.ok(prefix + "transmit_errors", *errors);
    else report.warn(prefix + "transmit_errors", *errors, "packets were dropped: check the link and the receiver");
  }
}

// Two enabled targets to one receiver deliver every message twice.
void check_duplicates(Sysroot& root, const std::vector<std::string>& targets, Report& report) {
  std::map<std::string, std::vector<std::string>> by_receiver;
  for (const std::string& name : targets) {
    NetconsoleTarget target(root, name);
    if (!target.enabled()) continue;
    by_receiver[target.read("remote_ip").value_or("") + " port " + target.read("remote_port").value_or("")]
        .push_back(name);
  }
  for (const auto& [receiver, names] : by_receiver) {
    if (names.size() < 2) continue;
    std::string list;
    for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
    report.fail("netconsole.duplicates", list + " all send to " + receiver,
                "keep one: lastgasp-setup remove --name NAME, or rmdir /sys/kernel/config/netconsole/NAME");
  }
}

// Every target saved in sender.toml must be live: one missing means a receiver
// that silently stopped getting this host's console.
void check_saved_targets(Sysroot& root, Report& report) {
  config::SenderFile saved;
  State state;
  try {
    saved = load_saved_targets(root);
    state = load_state(root);
  } catch (const std::exception& e) {
    report.fail("netconsole.saved", e.what(), "fix or delete the file it names");
    return;
  }
  for (const auto& target : saved.targets) {
    std::string live = live_target_name(root, target, state);
    std::string id = "saved." + target.name;
    if (root.is_dir(std::string(kNetconsoleConfigfs) + "/" + live))
      report.ok(id, "target '" + live + "' sends to " + target.to);
    else
      report.fail(id, "no target '" + live + "' in configfs, though " + kSenderConfigFile + " sends to " +
                          target.to + " through it",
                  "lastgasp-setup apply (and see journalctl -u lastgasp-setup for why it failed at boot)");
  }
}

// One receiver as check sees it: a saved target (live or missing) or a live
// target that is not saved (--no-persist, or another's).
struct ReceiverCheck {
  std::string target;             // the live target's configfs name
  std::optional<std::string> saved;  // its name in sender.toml
  std::string receiver;           // ADDRESS:PORT
};

std::vector<ReceiverCheck> receivers_to_check(Sysroot& root, const std::vector<std::string>& live) {
  std::vector<ReceiverCheck> receivers;
  std::set<std::string> covered;
  try {
    config::SenderFile saved = load_saved_targets(root);
    State state = load_state(root);
    for (const auto& target : saved.targets) {
      std::string name = live_target_name(root, target, state);
      receivers.push_back({name, target.name, target.to});
      covered.insert(name);
    }
  } catch (const std::exception&) {
    // netconsole.saved fails for it; the live targets are still each a receiver.
  }
  for (const std::string& name : live) {
    if (covered.contains(name)) continue;
    NetconsoleTarget target(root, name);
    std::string port = target.read("remote_port").value_or("");
    receivers.push_back({name, std::nullopt,
                         config::format_host_port(target.read("remote_ip").value_or(""),
                                                  static_cast<std::uint16_t>(std::atoi(port.c_str())))});
  }
  return receivers;
}

// "N of M receivers ready": each receiver is ready when none of its items
// failed. Ready only when every one is: a receiver that silently stopped
// getting the console is the failure two receivers are there to prevent.
void check_receivers(Sysroot& root, const std::vector<std::string>& live, Report& report) {
  std::vector<ReceiverCheck> receivers = receivers_to_check(root, live);
  nlohmann::json each = nlohmann::json::array();
  std::size_t ready = 0;
  std::string not_ready;
  for (const ReceiverCheck& r : receivers) {
    std::vector<std::string> ids = {"netlink"};
    if (r.saved) ids.push_back("saved." + *r.saved);
    const Item* failure = report.first_failure(ids, {"target." + r.target + "."});
    if (!failure) ++ready;
    std::string problem = failure ? failure->id + ": " + failure->value : "";
    if (failure)
      not_ready += (not_ready.empty() ? "" : "; ") + r.receiver + " (target '" + r.target + "'): " + problem;
    each.push_back({{"receiver", r.receiver}, {"target", r.target},
                    {"saved_as", r.saved ? nlohmann::json(*r.saved) : nlohmann::json(nullptr)},
                    {"ready", failure == nullptr}, {"problem", failure ? nlohmann::json(problem) : nlohmann::json(nullptr)}});
  }
  report.set_receivers(each);
  if (receivers.empty()) return;
  std::string count = std::to_string(ready) + " of " + std::to_string(receivers.size()) + " receivers ready";
  if (ready == receivers.size()) report.ok("receivers", count);
  else report.fail("receivers", count + "; not ready: " + not_ready, "fix the items above for each receiver named");
}

void check_targets(Sysroot& root, Report& report) {
  check_saved_targets(root, report);
  std::vector<std::string> targets = list_targets(root);
  if (targets.empty()) {
    report.fail("netconsole.targets", "none", kSetupHint);
    check_receivers(root, targets, report);
    return;
  }
  std::unique_ptr<Netlink> netlink;
  try {
    netlink = std::make_unique<Netlink>();
  } catch (const std::exception& e) {
    report.fail("netlink", e.what(), "run as root on the host");
  }
  for (const std::string& name : targets) check_target(root, netlink.get(), name, report);
  check_duplicates(root, targets, report);
  check_receivers(root, targets, report);
}

void check_printk_and_panic(const Sysroot& root, Report& report) {
  auto level = console_loglevel(root);
  std::string fix = "sysctl -w kernel.printk=\"8 4 1 7\" (lastgasp-setup netconsole sets and persists it)";
  if (!level) report.fail("printk.console_loglevel", "unreadable", fix);
  else if (*level >= 8) report.ok("printk.console_loglevel", std::to_string(*level));
  // Messages without a level are KERN_WARNING (4): below 5 they never reach a console.
  else if (*level < 5) report.fail("printk.console_loglevel", std::to_string(*level), fix);
  else report.warn("printk.console_loglevel", std::to_string(*level), fix);

  std::string panic = read_sysctl(root, "kernel.panic").value_or("?");
  if (panic == "0") report.warn("kernel.panic", "0 (hangs forever: pstore is never collected)", "sysctl -w kernel.panic=10");
  else report.ok("kernel.panic", panic);
  std::string oops = read_sysctl(root, "kernel.panic_on_oops").value_or("?");
  if (oops == "1") report.ok("kernel.panic_on_oops", oops);
  else report.warn("kernel.panic_on_oops", oops + " (an oops that hangs may never be sent)", "sysctl -w kernel.panic_on_oops=1");
}

void check_pstore(const Sysroot& root, Report& report) {
  PstoreStatus pstore = probe_pstore(root);
  if (pstore.backend == "none") {
    // `pstore --apply` can only help a kernel that has ramoops.
    KernelSupport ramoops = module_support(root, KernelConfig(root), "ramoops", "CONFIG_PSTORE_RAM");
    if (ramoops.absent())
      report.warn("pstore.backend", "none, and this kernel has no ramoops: " + ramoops.evidence, kRamoopsKernelAdvice);
    else report.warn("pstore.backend", "none", "lastgasp-setup pstore --apply");
  } else {
    std::string value = pstore.backend + ", " + std::to_string(pstore.dmesg_records()) + " dmesg record(s) stored";
    if (pstore.ramoops_dmesg_slots) value += " of " + std::to_string(*pstore.ramoops_dmesg_slots);
    bool full = pstore.ramoops_dmesg_slots && pstore.dmesg_records() >= *pstore.ramoops_dmesg_slots;
    if (full) report.warn("pstore.backend", value + " (full)", "collect and delete the records in /sys/fs/pstore");
    else report.ok("pstore.backend", value);
  }
  if (pstore.mounted) report.ok("pstore.mounted", "/sys/fs/pstore");
  else report.warn("pstore.mounted", "no", "mount -t pstore pstore /sys/fs/pstore");
  if (root.exists(kCollectUnitWantsLink))
    report.ok("pstore.collect", std::string("lastgasp-collect.service sends the records to the receiver") +
                                    (pstore.collects() ? " (after systemd-pstore, Storage=external)" : ""));
  else if (pstore.collects()) report.ok("pstore.collect", "systemd-pstore, Storage=external");
  else report.warn("pstore.collect", pstore.systemd_pstore ? "systemd-pstore Storage=" + pstore.storage : "no collector",
                   "lastgasp-setup pstore --apply");
}

void check_kdump_and_sysrq(const Sysroot& root, Report& report) {
  bool kdump = kdump_loaded(root);
  if (kdump) report.ok("kdump.loaded", "yes");
  else report.warn("kdump.loaded", "no", "install kdump-tools for a vmcore next to the console log");
  std::string notifiers = read_module_param(root, "kernel", "crash_kexec_post_notifiers").value_or("N");
  if (!kdump) report.ok("kdump.post_notifiers", notifiers + " (not needed without kdump)");
  else if (is_true(notifiers)) report.ok("kdump.post_notifiers", notifiers);
  // Without it the kernel kexecs before netconsole sends the panic.
  else report.fail("kdump.post_notifiers", notifiers,
                   "echo Y > /sys/module/kernel/parameters/crash_kexec_post_notifiers (lastgasp-setup netconsole does it)");

  // kernel.sysrq gates only the keyboard: root can always write /proc/sysrq-trigger.
  auto sysrq = read_sysctl(root, "kernel.sysrq");
  std::string fix = "sysctl -w kernel.sysrq=1 to dump tasks or crash from the keyboard";
  if (!sysrq) report.warn("sysrq", "unreadable", fix);
  else if (*sysrq == "0") report.warn("sysrq", "0", fix);
  else report.ok("sysrq", *sysrq);
}

}  // namespace

SubcommandRun define_check(CLI::App&) {
  return [](Context& ctx) {
    Report report;
    check_netconsole_support(ctx.root, report);
    if (ctx.root.is_dir(kNetconsoleConfigfs)) check_targets(ctx.root, report);
    check_printk_and_panic(ctx.root, report);
    check_pstore(ctx.root, report);
    check_kdump_and_sysrq(ctx.root, report);
    if (ctx.json) ctx.print_json(report.json());
    else report.print(ctx.out);
    return report.ready() ? kExitOk : kExitNotReady;
  };
}

}  // namespace lastgasp::setup
