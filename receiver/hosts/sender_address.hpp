// Who sent a datagram: the source address (IPv4-mapped IPv6 unmapped) and port.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace lastgasp::hosts {

struct SenderAddress {
  std::array<std::uint8_t, 16> bytes{};  // IPv6, or IPv4 as ::ffff:a.b.c.d
  std::uint16_t port = 0;

  static std::optional<SenderAddress> from_sockaddr(const sockaddr* sa, socklen_t len);
  // Parses a numeric address ("10.0.0.5", "fd00::1", "::ffff:10.0.0.5").
  static std::optional<SenderAddress> from_text(const std::string& text);

  bool is_v4() const;
  // "10.0.0.5" or "fd00::1".
  std::string text() const;
  bool same_host(const SenderAddress& o) const { return bytes == o.bytes; }
};

struct HostKeyHash {
  std::size_t operator()(const std::array<std::uint8_t, 16>& key) const noexcept;
};

// The directory name for a host: the config's name for its address, or the
// address itself with ':' written as '_'. Only [A-Za-z0-9._-] survive; anything
// else becomes '_', and a name can never be "." or ".." or start with a dot.
std::string sanitize_host_name(const std::string& name);

}  // namespace lastgasp::hosts
