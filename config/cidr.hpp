// An address prefix, as the config's `allow` list writes them: "10.0.0.0/8",
// "fd00::/8", or a single address.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lastgasp::config {

struct Cidr {
  std::array<std::uint8_t, 16> bytes{};  // IPv6, or IPv4 as ::ffff:a.b.c.d
  unsigned bits = 0;                     // over those 128 bits

  bool contains(const std::array<std::uint8_t, 16>& address) const;
};

// Nullopt with ERROR set (a sentence naming TEXT) when TEXT is not a prefix.
std::optional<Cidr> parse_cidr(const std::string& text, std::string& error);

}  // namespace lastgasp::config
