// The receiver's subcommands. Each file adds its own to the command line; a
// bare `lastgasp-receiver` runs the daemon.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "receiver_config.hpp"

namespace lastgasp::cli {

// Registers a subcommand on APP and returns what to run when it was chosen.
using Command = std::function<int()>;

Command add_run(CLI::App& app);  // on the root: the daemon's own options
Command add_check_config(CLI::App& app);
Command add_tail(CLI::App& app);
Command add_hosts(CLI::App& app);

// The config FILE names, or the default file if it exists, or the defaults.
// Throws config::ConfigError.
config::ReceiverConfig load_config(const std::string& file);

}  // namespace lastgasp::cli
