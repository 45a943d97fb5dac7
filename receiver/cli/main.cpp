// lastgasp-receiver: with no subcommand, the daemon; else one of this table's
// subcommands, one file each, as in lastgasp-setup.
#include <iostream>
#include <vector>

#include "commands.hpp"

namespace {

using namespace lastgasp::cli;

struct Subcommand {
  const char* name;
  const char* description;
  Command (*define)(CLI::App* sub);
};

constexpr Subcommand kSubcommands[] = {
    {"check-config", "validate a config file and change nothing", define_check_config},
    {"tail", "show the last records of the hosts' logs, and follow them with -f", define_tail},
    {"hosts", "one row per host: last seen, boots, records, gaps, panics, state", define_hosts},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lastgasp-receiver: records every host's netconsole output, up to its last words"};
  app.set_version_flag("--version", LASTGASP_VERSION, "print the version and exit");
  app.require_subcommand(0, 1);
  Command run = add_run(app);
  std::vector<std::pair<CLI::App*, Command>> commands;
  for (const Subcommand& sc : kSubcommands) {
    CLI::App* sub = app.add_subcommand(sc.name, sc.description);
    commands.emplace_back(sub, sc.define(sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    // Named, as every other error of ours is, so that it reads right in a script's or a unit's log.
    std::cerr << "lastgasp-receiver: " << e.what() << " (see lastgasp-receiver --help)\n";
    return 2;
  }
  for (auto& [sub, command] : commands)
    if (sub->parsed()) return command();
  return run();
}
