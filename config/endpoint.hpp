// "HOST:PORT" as both programs take it on the command line and in config:
// "10.0.0.1:6666", "[fd00::1]:6666", "[::]:6666", "logs.example.org:6666",
// or a bare host (an IPv6 address too: "fd00::1") when a default port is given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lastgasp::config {

struct HostPort {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool bracketed = false;  // written as [v6]
};

// Parses TEXT; DEFAULT_PORT is used when TEXT has no port (nullopt: port required).
// Returns nullopt and sets ERROR (a sentence) on bad input.
std::optional<HostPort> parse_host_port(std::string_view text, std::optional<std::uint16_t> default_port,
                                        std::string& error);

// The canonical text of an endpoint: IPv6 in brackets.
std::string format_host_port(const std::string& host, std::uint16_t port);

}  // namespace lastgasp::config
