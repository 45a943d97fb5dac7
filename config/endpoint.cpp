#include "endpoint.hpp"

#include "numbers.hpp"

namespace lastgasp::config {

namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  auto value = parse_number<std::uint16_t>(text);
  if (value == 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text, std::optional<std::uint16_t> default_port,
                                        std::string& error) {
  HostPort out;
  std::string_view port_text;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "'" + std::string(text) + "': missing ']' after the IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    out.bracketed = true;
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        error = "'" + std::string(text) + "': expected ':PORT' after ']'";
        return std::nullopt;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        error = "'" + std::string(text) + "': empty port";
        return std::nullopt;
      }
    }
  } else {
    auto colon = text.rfind(':');
    // Two colons or more: a bare IPv6 address, whose last group cannot be told from a port.
    if (colon != std::string_view::npos && text.find(':') != colon) {
      if (!default_port) {
        error = "'" + std::string(text) + "': missing port; write an IPv6 address with a port as [ADDR]:PORT";
        return std::nullopt;
      }
      colon = std::string_view::npos;
    }
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty()) {
        error = "'" + std::string(text) + "': empty port";
        return std::nullopt;
      }
    }
  }
  if (out.host.empty()) {
    error = "'" + std::string(text) + "': missing host";
    return std::nullopt;
  }
  if (!port_text.empty()) {
    auto port = parse_port(port_text);
    if (!port) {
      error = "'" + std::string(text) + "': port must be a number from 1 to 65535";
      return std::nullopt;
    }
    out.port = *port;
  } else if (default_port) {
    out.port = *default_port;
  } else {
    error = "'" + std::string(text) + "': missing ':PORT'";
    return std::nullopt;
  }
  return out;
}

std::string format_host_port(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace lastgasp::config
