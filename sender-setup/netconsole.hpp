// `lastgasp-setup netconsole`: resolve the path to the receiver, write the
// configfs target, set the printk and panic knobs, and persist all of it.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "endpoint.hpp"
#include "sender_config.hpp"
#include "boot_option.hpp"
#include "configfs/netconsole_target.hpp"
#include "context.hpp"
#include "netlink/path_resolver.hpp"
#include "state.hpp"

namespace lastgasp::setup {

struct NetconsoleRun {
  bool persist = true;
  bool at_boot = false;  // run by the unit: adopt the boot-time targets cmdlineN
};

struct ResolvedReceiver {
  std::string to;         // the numeric "ADDRESS:PORT" saved in the config
  std::string from_name;  // the host name it was resolved from, if any
  std::string zone;       // the device after '%' in "fe80::1%eth0", if any
};

// "HOST[:PORT]" (a bare IPv6 address too) -> ResolvedReceiver; a name is
// resolved once. Throws Error on bad input.
ResolvedReceiver resolve_receiver(const std::string& to);

// CONFIG's path to its receiver over netlink (waiting up to NEIGHBOUR_TIMEOUT
// for the next hop's MAC); no probe is sent on a dry run. Throws Error.
NetPath resolve_receiver_path(Netlink& netlink, const config::SenderConfig& config,
                              std::chrono::milliseconds neighbour_timeout, const Sysroot& root);

// What the setup keeps, read once for a run: the state and sender.toml. Loads
// netconsole and mounts configfs first when they are missing (the state's
// targets are those configfs holds). Throws Error.
struct SetupRecord {
  State state;
  config::SenderFile saved;
  std::map<std::string, std::string> boot_entries;  // netconsole= entries of this run's paths, by target
};
SetupRecord load_setup_record(Context& ctx);

// Everything after the path is known: target, knobs, persistence, state, as
// one target of RECORD's run: a run with several receivers hands the same
// record to each, so that each sees the others, also in a dry run, which
// writes nothing to read back. The whole run is one transaction on ctx.root;
// the caller rolls back on Error.
nlohmann::json apply_netconsole(config::SenderConfig config, const NetPath& path, const NetconsoleRun& run,
                                Context& ctx, SetupRecord& record);
// The same for one target in a run of its own.
nlohmann::json apply_netconsole(config::SenderConfig config, const NetPath& path, const NetconsoleRun& run,
                                Context& ctx);

// How CONFIG's path is resolved: its --dev, --mac and --allow-broadcast; no
// probe is sent on a dry run.
ResolveOptions resolve_options(const config::SenderConfig& config, std::chrono::milliseconds neighbour_timeout,
                               const Sysroot& root);

// The target's attributes for CONFIG sent along PATH.
TargetRequest target_request(const config::SenderConfig& config, const NetPath& path, const Sysroot& root);

// The receiver's address and port from "ADDRESS:PORT" (already validated).
config::HostPort receiver_endpoint(const config::SenderConfig& config);

}  // namespace lastgasp::setup
