// lastgasp-setup's saved settings: what `lastgasp-setup netconsole` was asked to
// do, written to /etc/lastgasp/sender.toml so that the boot-time unit can do it
// again (re-resolving the route and MAC). config/sender.toml documents every key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

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
    // Persisted as the netconsole= module option, so the boot target (cmdline0)
    // replays the ring buffer; the unit then adopts cmdline0.
    bool boot_option = false;
  } netconsole;
  struct Panic {
    bool knobs = true;
    std::int64_t timeout = 10;  // kernel.panic: reboot after this many seconds
  } panic;
};

// Whether TEXT is a numeric IPv4 or IPv6 address, as `to` must hold.
bool is_ip_address(const std::string& text);

// TEXT as a lowercase aa:bb:cc:dd:ee:ff when it is a unicast Ethernet MAC;
// nullopt and ERROR (a sentence) otherwise.
std::optional<std::string> parse_unicast_mac(const std::string& text, std::string& error);

// Reads FILE. Throws ConfigError ("FILE:LINE:COL: key 'K': ...").
SenderConfig load_sender_config(const std::filesystem::path& file);
// The TOML text that load_sender_config reads back to the same settings.
std::string format_sender_config(const SenderConfig& config);

}  // namespace lastgasp::config
