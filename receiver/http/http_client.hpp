// A GET to the receiver's own HTTP side, for `hosts` to ask the running daemon, over HTTP or
// HTTPS.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "net/tls.hpp"

namespace lastgasp::http {

// What the daemon's certificate is verified against. Not its name: http_listen is an address,
// and a certificate for the receiver's name seldom lists the addresses it listens on.
struct ServerTrust {
  net::NamedFile file;  // PEM certificates
  // FILE is the server's own certificate (self-signed, mostly): trusted as it is, whatever
  // signed it.
  bool pinned = false;
};

struct Fetched {
  unsigned status = 0;
  std::string body;
};

struct Asked {
  std::optional<Fetched> fetched;  // nullopt when no answer came, and then:
  boost::system::error_code error;
  std::string untrusted;           // why the server was not trusted, if that was why
};

// GETs TARGET from the daemon listening on ADDRESS (an http_listen; a wildcard address is
// asked on loopback), with TOKEN as the bearer token unless empty, all within TIMEOUT; over
// HTTPS with TRUST.
Asked http_get(const std::string& address, const std::string& target, const std::string& token,
               std::chrono::milliseconds timeout, const std::optional<ServerTrust>& trust = std::nullopt);

}  // namespace lastgasp::http
