#include "sender_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace lastgasp::hosts {

namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr std::size_t kMaxNameLength = 64;

void set_v4(SenderAddress& a, const in_addr& v4) {
  std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), a.bytes.begin());
  std::memcpy(a.bytes.data() + 12, &v4, 4);
}

}  // namespace

std::optional<SenderAddress> SenderAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
  SenderAddress a;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    set_v4(a, in->sin_addr);
    a.port = ntohs(in->sin_port);
    return a;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
    a.port = ntohs(in6->sin6_port);
    return a;
  }
  return std::nullopt;
}

std::optional<SenderAddress> SenderAddress::from_text(const std::string& text) {
  SenderAddress a;
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    set_v4(a, v4);
    return a;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) return a;
  return std::nullopt;
}

bool SenderAddress::is_v4() const { return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes.begin()); }

std::string SenderAddress::text() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) return inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
  return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
}

std::size_t HostKeyHash::operator()(const std::array<std::uint8_t, 16>& key) const noexcept {
  std::uint64_t a, b;
  std::memcpy(&a, key.data(), 8);
  std::memcpy(&b, key.data() + 8, 8);
  std::uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return static_cast<std::size_t>(h ^ (h >> 32));
}

std::string sanitize_host_name(const std::string& name) {
  std::string out = name.empty() || name[0] == '.' ? "_" : "";
  for (char c : name.substr(0, kMaxNameLength)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    out += ok ? c : '_';
  }
  return out;
}

}  // namespace lastgasp::hosts
