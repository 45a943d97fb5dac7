// A GET to the receiver's own HTTP side, for `hosts` to ask the running daemon.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace lastgasp::http {

struct Fetched {
  unsigned status = 0;
  std::string body;
};

// GETs TARGET from the daemon listening on ADDRESS (an http_listen; a wildcard address is
// asked on loopback), with TOKEN as the bearer token unless empty, all within TIMEOUT.
// nullopt, and ERROR, when no answer came.
std::optional<Fetched> http_get(const std::string& address, const std::string& target, const std::string& token,
                                std::chrono::milliseconds timeout, boost::system::error_code& error);

}  // namespace lastgasp::http
