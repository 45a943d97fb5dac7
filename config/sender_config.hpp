// lastgasp-setup's saved settings: what `lastgasp-setup netconsole` was asked to
// do, written to /etc/lastgasp/sender.toml so that the boot-time unit can do it
// again (re-resolving the route and MAC), for every target it made.
// config/sender.toml documents every key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lastgasp::config {

inline constexpr const char* kDefaultSenderConfig = "/etc/lastgasp/sender.toml";

struct SenderConfig {
  struct Netconsole {
    std::string name = "lastgasp";  // configfs target name
    std::string to;                 // receiver as ADDRESS:PORT ([v6]:port), always numeric
    std::string to_name;            // the host name it was resolved from, if any
    std::string dev;                // empty: the route's device
    std::string mac;                // the next hop's MAC (--mac); empty: from the neighbour table
    std::uint16_t src_port = 6665;
    bool extended = true;
    bool allow_broadcast = false;
    // Persisted as an entry of the netconsole= module option, so that its boot
    // target (cmdlineN for the Nth target that has it) replays the ring buffer;
    // the unit then adopts cmdlineN. As many have it as the option's 255 bytes hold.
    bool boot_option = false;
  } netconsole;
  struct Panic {
    bool knobs = true;
    std::int64_t timeout = 10;  // kernel.panic: reboot after this many seconds
  } panic;
};

// The whole of sender.toml: one [[netconsole]] table per target, and the panic
// settings, which are the kernel's and so shared.
struct SenderFile {
  std::vector<SenderConfig::Netconsole> targets;
  SenderConfig::Panic panic;

  // Target I's settings, as one run of `netconsole` applies them.
  SenderConfig config(std::size_t i) const { return {targets.at(i), panic}; }
  // The target named NAME, or nullptr.
  const SenderConfig::Netconsole* find(const std::string& name) const;
};

// Whether TEXT is a numeric IPv4 or IPv6 address, as `to` must hold.
bool is_ip_address(const std::string& text);

// TEXT as a lowercase aa:bb:cc:dd:ee:ff when it is a unicast Ethernet MAC;
// nullopt and ERROR (a sentence) otherwise.
std::optional<std::string> parse_unicast_mac(const std::string& text, std::string& error);

// Reads FILE: [[netconsole]] tables, or the single [netconsole] table written by
// older versions. Throws ConfigError ("FILE:LINE:COL: key 'K': ...").
SenderFile load_sender_file(const std::filesystem::path& file);
// The TOML text that load_sender_file reads back to the same settings.
std::string format_sender_file(const SenderFile& file);

}  // namespace lastgasp::config
