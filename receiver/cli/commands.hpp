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

// The root's options that the subcommands take too: `lastgasp-receiver --log-dir X tail` is
// `lastgasp-receiver tail --log-dir X`. Given on both sides, the subcommand's wins, as a later
// option does.
struct RootOptions {
  std::string config_file;
  std::string log_dir;

  std::string config_or(const std::string& own) const { return own.empty() ? config_file : own; }
  std::string log_dir_or(const std::string& own) const { return own.empty() ? log_dir : own; }
};

// On the root: the daemon's own options, --config and --log-dir into ROOT.
Command add_run(CLI::App& app, RootOptions& root);
// Each defines its options on its subcommand SUB (main.cpp's table names them); ROOT is
// filled when the command runs.
Command define_check_config(CLI::App* sub, const RootOptions& root);
Command define_tail(CLI::App* sub, const RootOptions& root);
Command define_hosts(CLI::App* sub, const RootOptions& root);

// The config FILE names, or the default file if it exists, or the defaults.
// Throws config::ConfigError.
config::ReceiverConfig load_config(const std::string& file);

// -o/--output, one option in tail and hosts: journalctl's output modes (tail/render.hpp), into
// OUTPUT; WHAT says what they mean for the subcommand, if anything more.
void add_output_option(CLI::App* sub, std::string& output, const std::string& what);

// Why LOG_DIR cannot be listed, with what to do about it (as journalctl says
// when the journal is not readable); "" when it can.
std::string log_dir_problem(const std::filesystem::path& log_dir);

}  // namespace lastgasp::cli
