#include "boot_option.hpp"

#include <algorithm>
#include <optional>
#include <cctype>
#include <vector>

#include "configfs/netconsole_target.hpp"
#include "endpoint.hpp"
#include "error.hpp"
#include "persistence.hpp"

namespace lastgasp::setup {

namespace {

constexpr std::size_t kMaxBootOption = 255;  // MAX_PARAM_LENGTH less its NUL
constexpr const char* kBootPrefix = "cmdline";

config::HostPort endpoint_of(const std::string& to) {
  std::string error;
  auto endpoint = config::parse_host_port(to, 6666, error);
  if (!endpoint) throw Error("bad receiver '" + to + "': " + error);
  return *endpoint;
}

// Whether the target directory DIR sends to RECEIVER.
bool target_sends_to(const Sysroot& root, const std::string& dir, const config::HostPort& receiver) {
  return same_value("remote_ip", root.read_trimmed(dir + "/remote_ip").value_or(""), receiver.host) &&
         root.read_trimmed(dir + "/remote_port").value_or("") == std::to_string(receiver.port);
}

// The entry for the live target NAME, from its attributes.
std::optional<std::string> entry_of_live_target(const Sysroot& root, const std::string& name) {
  std::string dir = std::string(kNetconsoleConfigfs) + "/" + name;
  auto value = [&](const char* attribute) { return root.read_trimmed(dir + "/" + attribute).value_or(""); };
  if (!root.is_dir(dir) || value("dev_name").empty() || value("remote_mac").empty()) return std::nullopt;
  std::string flags = value("extended") == "1" ? (value("release") == "1" ? "+r" : "+") : "";
  return flags + value("local_port") + "@" + value("local_ip") + "/" + value("dev_name") + "," +
         value("remote_port") + "@" + value("remote_ip") + "/" + value("remote_mac");
}

// The entries of the option this tool wrote before, if any.
std::vector<std::string> written_entries(const Sysroot& root) {
  std::string text = root.read(kNetconsoleModprobeFile).value_or("");
  const std::string key = "netconsole=\"";
  auto start = text.find(key);
  if (start == std::string::npos) return {};
  start += key.size();
  auto end = text.find('"', start);
  if (end == std::string::npos) return {};
  std::vector<std::string> entries;
  for (std::size_t from = start; from <= end;) {
    auto semicolon = std::min(text.find(';', from), end);
    if (semicolon > from) entries.push_back(text.substr(from, semicolon - from));
    from = semicolon + 1;
  }
  return entries;
}

// Whether ENTRY ("...,PORT@ADDRESS/MAC") sends to RECEIVER.
bool entry_sends_to(const std::string& entry, const config::HostPort& receiver) {
  auto comma = entry.find(',');
  auto at = entry.find('@', comma);
  auto slash = entry.rfind('/');
  if (comma == std::string::npos || at == std::string::npos || slash == std::string::npos || slash < at) return false;
  return entry.substr(comma + 1, at - comma - 1) == std::to_string(receiver.port) &&
         same_value("remote_ip", entry.substr(at + 1, slash - at - 1), receiver.host);
}

// TARGET's entry when it is not the one being applied: its live target's
// values, else what the option said before.
std::optional<std::string> known_entry(const Sysroot& root, const State& state,
                                       const config::SenderConfig::Netconsole& target) {
  std::string live = live_target_name(root, target, state);
  if (state.targets.contains(live))
    if (auto entry = entry_of_live_target(root, live)) return entry;
  config::HostPort receiver = endpoint_of(target.to);
  for (const std::string& entry : written_entries(root))
    if (entry_sends_to(entry, receiver)) return entry;
  return std::nullopt;
}

std::string joined(const std::vector<std::string>& entries) {
  std::string option;
  for (const std::string& entry : entries) option += (option.empty() ? "" : ";") + entry;
  return option;
}

void write_files(Context& ctx, State& state, const std::string& option) {
  write_owned_file(ctx.root, state, kNetconsoleModprobeFile,
                   "# Written by lastgasp-setup: one boot-time target per receiver (cmdline0, cmdline1...),\n"
                   "# each replaying the kernel's ring buffer. The unit re-resolves the MACs and updates them.\n" +
                       modprobe_options("netconsole", {{"netconsole", option}}));
  write_owned_file(ctx.root, state, kNetconsoleModulesLoadFile,
                   "# Written by lastgasp-setup: load netconsole early, with its boot-time targets.\n"
                   "netconsole\n");
  // Only loadable modules have initstate; a built-in netconsole never reads modprobe.d.
  if (ctx.root.exists("/sys/module/netconsole") && !ctx.root.exists("/sys/module/netconsole/initstate"))
    ctx.warn("netconsole is built into this kernel, so the modprobe.d option does not apply: for the replay "
             "at boot, add netconsole=" + option + " to the kernel command line");
}

}  // namespace

std::string boot_target_name(std::size_t index) { return kBootPrefix + std::to_string(index); }

bool is_boot_target_name(const std::string& name) {
  std::string_view number = std::string_view(name).substr(std::min(name.size(), std::string_view(kBootPrefix).size()));
  return name.starts_with(kBootPrefix) && !number.empty() &&
         std::all_of(number.begin(), number.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::size_t boot_index(const config::SenderFile& saved, const std::string& name) {
  std::size_t index = 0;
  for (const auto& target : saved.targets) {
    if (target.name == name) break;
    if (target.boot_option) ++index;
  }
  return index;
}

std::string format_boot_option(const config::SenderConfig& config, const NetPath& path, bool release) {
  const auto& nc = config.netconsole;
  std::string flags = nc.extended ? (release ? "+r" : "+") : "";
  return flags + std::to_string(nc.src_port) + "@" + path.source + "/" + path.device + "," +
         std::to_string(endpoint_of(nc.to).port) + "@" + path.receiver + "/" + path.mac;
}

std::string live_target_name(const Sysroot& root, const config::SenderConfig::Netconsole& saved, const State& state) {
  if (!saved.boot_option) return saved.name;
  config::HostPort receiver = endpoint_of(saved.to);
  for (const std::string& name : state.targets)
    if (is_boot_target_name(name) && target_sends_to(root, std::string(kNetconsoleConfigfs) + "/" + name, receiver))
      return name;
  return saved.name;
}

void write_boot_option(Context& ctx, State& state, config::SenderFile& saved,
                       const std::map<std::string, std::string>& fresh) {
  std::vector<std::string> entries;
  for (auto& target : saved.targets) {
    if (!target.boot_option) continue;
    auto fresh_entry = fresh.find(target.name);
    std::optional<std::string> entry =
        fresh_entry != fresh.end() ? fresh_entry->second : known_entry(ctx.root, state, target);
    std::string why;
    if (!entry) why = "its path is not known (no live target, and not in the option before)";
    else if (entries.empty() && entry->size() > kMaxBootOption)
      throw Error("the netconsole= option would be " + std::to_string(entry->size()) +
                  " bytes, over the kernel's 255: use a shorter device name or run with --no-persist");
    else if (joined(entries).size() + 1 + entry->size() > kMaxBootOption)
      why = "the netconsole= option, at most 255 bytes, has room only for the " + std::to_string(entries.size()) +
            " target(s) before it";
    if (!why.empty()) {
      target.boot_option = false;
      ctx.say("Early boot messages are not replayed to '" + target.name + "' (" + target.to + "): " + why +
              "; the boot-time unit still sets it up.");
      continue;
    }
    entries.push_back(*entry);
  }
  if (entries.empty()) {
    remove_owned_file(ctx.root, state, kNetconsoleModprobeFile);
    remove_owned_file(ctx.root, state, kNetconsoleModulesLoadFile);
    return;
  }
  write_files(ctx, state, joined(entries));
}

}  // namespace lastgasp::setup
