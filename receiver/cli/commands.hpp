// The receiver's subcommands. Each file adds its own to the command line; a
// bare `lastgasp-receiver` runs the daemon.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace lastgasp::cli {

// Registers a subcommand on APP and returns what to run when it was chosen.
using Command = std::function<int()>;

Command add_run(CLI::App& app);  // on the root: the daemon's own options
Command add_check_config(CLI::App& app);

}  // namespace lastgasp::cli
