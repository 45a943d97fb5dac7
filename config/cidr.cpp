#include "cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace lastgasp::config {

std::optional<Cidr> parse_cidr(const std::string& text, std::string& error) {
  auto slash = text.find('/');
  std::string address = text.substr(0, slash);
  Cidr cidr;
  unsigned max_bits = 128, offset = 0;
  if (inet_pton(AF_INET, address.c_str(), cidr.bytes.data() + 12) == 1) {
    cidr.bytes[10] = cidr.bytes[11] = 0xff;
    max_bits = 32;
    offset = 96;
  } else if (inet_pton(AF_INET6, address.c_str(), cidr.bytes.data()) != 1) {
    error = "'" + text + "': not an address or CIDR prefix";
    return std::nullopt;
  }
  unsigned bits = max_bits;
  if (slash != std::string::npos) {
    std::string_view digits(text.data() + slash + 1, text.size() - slash - 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || bits > max_bits) {
      error = "'" + text + "': the prefix length must be 0 to " + std::to_string(max_bits);
      return std::nullopt;
    }
  }
  cidr.bits = bits + offset;
  return cidr;
}

bool Cidr::contains(const std::array<std::uint8_t, 16>& address) const {
  unsigned full = bits / 8, rest = bits % 8;
  if (!std::equal(bytes.begin(), bytes.begin() + full, address.begin())) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (bytes[full] & mask) == (address[full] & mask);
}

}  // namespace lastgasp::config
