// A host's figures on disk: LOG_DIR/<host>/state.json, replaced atomically.
#pragma once

#include <optional>
#include <string>

#include "hosts/host_state.hpp"
#include "log_directory.hpp"

namespace lastgasp::sinks {

inline constexpr const char* kStateFile = "state.json";

// HOST's saved state; nullopt when there is none, or it does not parse.
std::optional<hosts::HostState> load_host_state(const LogDirectory& dir, const std::string& host);
// Saves STATE and marks it clean; false with errno on failure.
bool save_host_state(const LogDirectory& dir, const std::string& host, hosts::HostState& state);

}  // namespace lastgasp::sinks
