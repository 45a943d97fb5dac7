// One entry per subcommand, as wg does: main.cpp keeps the table, and each
// subcommand's file defines its options and returns the function that runs it.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

#include "context.hpp"

namespace lastgasp::setup {

// Exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitNotReady = 1;  // `check`: an item fails
inline constexpr int kExitError = 2;     // bad input or an error

using SubcommandRun = std::function<int(Context&)>;

SubcommandRun define_netconsole(CLI::App& command);
SubcommandRun define_apply(CLI::App& command);
SubcommandRun define_pstore(CLI::App& command);
SubcommandRun define_check(CLI::App& command);
SubcommandRun define_remove(CLI::App& command);
SubcommandRun define_collect(CLI::App& command);
SubcommandRun define_verify(CLI::App& command);
SubcommandRun define_show(CLI::App& command);
SubcommandRun define_watch(CLI::App& command);

}  // namespace lastgasp::setup
