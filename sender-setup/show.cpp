// `lastgasp-setup show`: the live netconsole targets, read-only as `wg show`:
// each value, where it came from (sender.toml, --dev or --mac kept there, the
// route lookup, the neighbour table), and whether it still matches the network
// now. The path is resolved again with the resolver `netconsole` uses, but as a
// dry run does: from the tables only, sending no probe and writing nothing.
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "configfs/netconsole_target.hpp"
#include "error.hpp"
#include "netconsole.hpp"
#include "persistence.hpp"
#include "state.hpp"
#include "subcommands.hpp"

namespace lastgasp::setup {

namespace {

// Configfs values of another's target reach the terminal only as printable text.
std::string printable(std::string text) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return text;
}

struct Shown {
  std::string attribute;
  std::string value;
  std::string origin;
  std::optional<std::string> now;  // the value the network asks for now, where it differs
};

struct Owner {
  bool ours = false;
  std::optional<config::SenderConfig> saved;
};

Owner owner_of(const Sysroot& root, const std::string& name, const State& state, const config::SenderFile& saved) {
  Owner owner{.ours = state.targets.contains(name), .saved = std::nullopt};
  if (!owner.ours) return owner;
  for (std::size_t i = 0; i < saved.targets.size(); ++i)
    if (live_target_name(root, saved.targets[i], state) == name) owner.saved = saved.config(i);
  return owner;
}

std::string owner_text(const Owner& owner) {
  if (!owner.ours) return "not made by lastgasp-setup (shown, never changed)";
  if (!owner.saved) return "made by lastgasp-setup, not saved (--no-persist): gone after a reboot";
  return "made by lastgasp-setup, saved in " + std::string(kSenderConfigFile) + " as '" + owner.saved->netconsole.name +
         "'";
}

// What the target would be resolved with: its saved settings, or, for one not
// saved, its own receiver (and, for another's, its own device, as it was given).
config::SenderConfig settings_of(const NetconsoleTarget& target, const Owner& owner) {
  if (owner.saved) return *owner.saved;
  config::SenderConfig config;
  auto port = static_cast<std::uint16_t>(std::stoi(target.read("remote_port").value_or("6666")));
  config.netconsole.to = config::format_host_port(target.read("remote_ip").value_or(""), port);
  if (!owner.ours) config.netconsole.dev = target.read("dev_name").value_or("");
  return config;
}

std::vector<Shown> attributes(const NetconsoleTarget& target, const Owner& owner,
                              const std::optional<NetPath>& now) {
  auto value = [&](const char* attribute) { return printable(target.read(attribute).value_or("")); };
  const auto* saved = owner.saved ? &owner.saved->netconsole : nullptr;
  std::string foreign = "set by whoever made the target";
  std::string receiver = !owner.ours ? foreign
                         : saved     ? std::string(kSenderConfigFile) + " (to = " + saved->to +
                                       (saved->to_name.empty() ? "" : ", from the name " + saved->to_name) + ")"
                                     : "--to";
  std::string next_hop = now ? " (next hop " + now->next_hop + ")" : "";
  std::string kept = std::string(", kept in ") + kSenderConfigFile;
  std::string mac_origin = !owner.ours                          ? foreign
                           : saved && !saved->mac.empty()       ? "--mac" + kept
                           : value("remote_mac") == kBroadcastMac ? "--allow-broadcast: no next hop answered"
                                                                  : "neighbour table" + next_hop;
  std::string dev_origin = !owner.ours ? foreign : saved && !saved->dev.empty() ? "--dev" + kept : "route lookup";
  std::vector<Shown> shown = {
      {"remote_ip", value("remote_ip"), receiver, std::nullopt},
      {"remote_port", value("remote_port"), receiver, std::nullopt},
      {"dev_name", value("dev_name"), dev_origin, std::nullopt},
      {"local_ip", value("local_ip"), !owner.ours ? foreign : "route lookup (the route's source address)",
       std::nullopt},
      {"remote_mac", value("remote_mac"), mac_origin, std::nullopt},
  };
  if (!now) return shown;
  std::map<std::string, std::string> wanted = {
      {"dev_name", now->device}, {"local_ip", now->source}, {"remote_mac", now->mac}};
  for (Shown& s : shown)
    if (wanted.contains(s.attribute) && !same_value(s.attribute, s.value, wanted[s.attribute]))
      s.now = wanted[s.attribute];
  return shown;
}

nlohmann::json show_target(Sysroot& root, const std::string& name, const State& state,
                           const config::SenderFile& saved) {
  NetconsoleTarget target(root, name);
  Owner owner = owner_of(root, name, state, saved);
  std::optional<NetPath> now;
  std::string error;
  try {
    config::SenderConfig config = settings_of(target, owner);
    ResolveOptions options = resolve_options(config, std::chrono::milliseconds(0), root);
    options.send_probes = false;  // read-only: what the tables say now
    Netlink netlink;
    now = resolve_path(netlink, receiver_endpoint(config).host, options);
  } catch (const std::exception& e) {
    error = e.what();
  }
  nlohmann::json shown = nlohmann::json::array();
  bool matches = now.has_value();
  for (const Shown& s : attributes(target, owner, now)) {
    matches = matches && !s.now;
    shown.push_back({{"attribute", s.attribute}, {"value", s.value}, {"origin", s.origin},
                     {"now", s.now ? nlohmann::json(*s.now) : nlohmann::json(nullptr)}});
  }
  return {{"name", printable(name)},
          {"ours", owner.ours},
          {"saved", owner.saved ? nlohmann::json(owner.saved->netconsole.name) : nlohmann::json(nullptr)},
          {"owner", owner_text(owner)},
          {"enabled", target.enabled()},
          {"attributes", shown},
          {"matches_network", matches},
          {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(printable(error))}};
}

void print_target(std::ostream& out, const nlohmann::json& t) {
  out << "target '" << t["name"].get<std::string>() << "': " << t["owner"].get<std::string>() << "\n";
  out << "  enabled      " << (t["enabled"].get<bool>() ? "1" : "0") << "\n";
  for (const auto& a : t["attributes"]) {
    std::string line = "  " + a["attribute"].get<std::string>();
    line.resize(15, ' ');
    out << line << a["value"].get<std::string>() << "  from " << a["origin"].get<std::string>() << "\n";
  }
  out << "  network now  ";
  if (!t["error"].is_null()) out << "does not resolve: " << t["error"].get<std::string>() << "\n";
  else if (t["matches_network"].get<bool>()) out << "matches\n";
  else {
    std::string differs;
    for (const auto& a : t["attributes"])
      if (!a["now"].is_null())
        differs += (differs.empty() ? "" : ", ") + a["attribute"].get<std::string>() + " is now " +
                   a["now"].get<std::string>();
    out << "differs: " << differs << (t["ours"].get<bool>() ? " (lastgasp-setup apply writes it)" : "") << "\n";
  }
}

}  // namespace

SubcommandRun define_show(CLI::App&) {
  return [](Context& ctx) {
    State state = load_state(ctx.root);
    config::SenderFile saved = load_saved_targets(ctx.root);
    nlohmann::json targets = nlohmann::json::array();
    for (const std::string& name : list_targets(ctx.root))
      targets.push_back(show_target(ctx.root, name, state, saved));
    if (ctx.json) {
      ctx.print_json({{"targets", targets}});
      return kExitOk;
    }
    if (targets.empty()) ctx.say("no netconsole targets in " + std::string(kNetconsoleConfigfs));
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (i) ctx.out << "\n";
      print_target(ctx.out, targets[i]);
    }
    return kExitOk;
  };
}

}  // namespace lastgasp::setup
