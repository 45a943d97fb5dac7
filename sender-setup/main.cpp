// lastgasp-setup: sets up, checks and removes what makes a panicking kernel's
// last words reach the receiver. Shaped like wg: this table of subcommands,
// and one file per subcommand.
#include <filesystem>
#include <iostream>
#include <optional>
#include <tuple>

#include <CLI/CLI.hpp>

#include "configfs/netconsole_target.hpp"
#include "context.hpp"
#include "subcommands.hpp"

namespace {

using namespace lastgasp::setup;

struct Subcommand {
  const char* name;
  const char* description;
  SubcommandRun (*define)(CLI::App& command);
  // Writes netconsole targets: runs holding TargetsLock, so that the boot
  // unit's apply, watch and an administrator's run never write one at once.
  // (watch takes the lock for each re-resolve, not for its whole life.)
  bool writes_targets;
};

constexpr Subcommand kSubcommands[] = {
    {"netconsole", "send this host's console to the receiver, now and after every reboot", define_netconsole, true},
    {"pstore", "find the pstore backend, propose a ramoops region, make sure records are collected", define_pstore,
     false},
    {"check", "say whether a panic on this host would reach the receiver, and what to fix", define_check, false},
    {"show", "show the live netconsole targets, where each value came from, and whether it still matches the network",
     define_show, false},
    {"remove", "undo what lastgasp-setup set up, and restore the values it changed", define_remove, true},
    {"apply", "apply /etc/lastgasp/sender.toml again (the boot-time unit runs this)", define_apply, true},
    {"watch", "keep the saved targets following the network: route, next hop MAC, device, source (a unit runs this)",
     define_watch, false},
    {"collect", "send the previous boot's pstore records to the receiver over TCP (the boot-time unit runs this)",
     define_collect, false},
    {"verify", "send a canary line through netconsole and ask the receiver whether it arrived", define_verify, false},
};

int run(int argc, char** argv) {
  CLI::App app{"lastgasp-setup: make sure a panicking kernel's last words reach the lastgasp receiver"};
  app.set_version_flag("--version", LASTGASP_VERSION, "print the version and exit");
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too.
  app.fallthrough();
  std::string root = "/";
  bool dry_run = false, json = false;
  app.add_option("--root", root, "prefix every path read or written (/sys, /proc, /etc, /run, /var)");
  app.add_flag("--dry-run", dry_run, "print every file and value that would be written; change nothing");
  app.add_flag("--json", json, "print the report as JSON");

  std::vector<std::tuple<CLI::App*, SubcommandRun, bool>> commands;
  for (const Subcommand& sc : kSubcommands) {
    CLI::App* command = app.add_subcommand(sc.name, sc.description);
    commands.emplace_back(command, sc.define(*command), sc.writes_targets);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::string what = e.what();
    if (app.get_subcommands().empty()) {
      what = "name a subcommand:";
      for (const Subcommand& sc : kSubcommands) what += std::string(" ") + sc.name;
    }
    std::cerr << "lastgasp-setup: " << what << " (see lastgasp-setup --help)\n";
    return kExitError;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) {
    std::cerr << "lastgasp-setup: --root " << root << " is not a directory\n";
    return kExitError;
  }

  Sysroot sysroot(root, dry_run, json ? std::cerr : std::cout);
  Context ctx{sysroot, json, std::cout, std::cerr};
  for (auto& [command, run_command, writes_targets] : commands) {
    if (!command->parsed()) continue;
    std::optional<TargetsLock> lock;
    if (writes_targets) lock.emplace(sysroot);
    try {
      int status = run_command(ctx);
      sysroot.commit();
      return status;
    } catch (const std::exception& e) {
      ctx.fail_and_roll_back(command->get_name(), e.what());
      return kExitError;
    }
  }
  return kExitError;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
