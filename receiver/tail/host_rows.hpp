// One row per host, as `hosts` and /api/hosts show them: the state files
// under the log directory, with what the daemon holds in memory on top.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hosts/host_state.hpp"
#include "sinks/log_directory.hpp"

namespace lastgasp::tail {

struct HostRow {
  std::string host;  // its directory
  hosts::HostState state;
};

// "panicked" when its last event was a panic, else "silent" past SILENT_AFTER_US, else "live".
const char* host_condition(const hosts::HostState& state, std::int64_t now_us, std::int64_t silent_after_us);

// Every host under DIR with a state file, LIVE's rows in place of theirs (a held host's file
// lags up to 30 s), sorted by name; at most LIMIT rows, LIVE's first.
std::vector<HostRow> host_rows(const sinks::LogDirectory& dir, std::vector<HostRow> live, std::size_t limit);

// Every host under LOG_DIR (DIR) with a log or a state file, with its figures as of the log's end:
// the state file's, which the daemon saves up to 30 s apart (and a killed one not at all), and
// the lines its log has since counted on top, as the daemon counted them. For `hosts` when no
// daemon answers: a host is there once it has a log, and one that rebooted after its panic is live.
std::vector<HostRow> host_rows_as_of_logs(const sinks::LogDirectory& dir, const std::filesystem::path& log_dir);

// The JSON array of `hosts --json` and /api/hosts.
nlohmann::json hosts_json(const std::vector<HostRow>& rows, std::int64_t now_us, std::int64_t silent_after_us);

std::int64_t wall_now_us();

}  // namespace lastgasp::tail
