// The receiver's subcommands. Each file adds its own to the command line; a
// bare `lastgasp-receiver` runs the daemon.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <string>

#include "receiver_config.hpp"

namespace lastgasp::cli {

// What to run when a command was chosen.
using Command = std::function<int()>;

// On the root: the daemon's own options.
Command add_run(CLI::App& app);
// Each defines its options on its subcommand SUB (main.cpp's table names them).
Command define_check_config(CLI::App* sub);
Command define_tail(CLI::App* sub);
Command define_hosts(CLI::App* sub);

// The config FILE names, or the default file if it exists, or the defaults.
// Throws config::ConfigError.
config::ReceiverConfig load_config(const std::string& file);

// Why LOG_DIR cannot be listed, with what to do about it (as journalctl says
// when the journal is not readable); "" when it can.
std::string log_dir_problem(const std::filesystem::path& log_dir);

}  // namespace lastgasp::cli
