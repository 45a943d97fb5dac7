// lastgasp-receiver: with no subcommand, the daemon; else one of this table's
// subcommands, one file each, as in lastgasp-setup.
#include <algorithm>
#include <iostream>
#include <string_view>
#include <vector>

#include "commands.hpp"

namespace {

using namespace lastgasp::cli;

struct Subcommand {
  const char* name;
  const char* description;
  Command (*define)(CLI::App* sub, const RootOptions& root);
  std::vector<std::string_view> root_options;  // of the root's, those it takes when given before it
};

const std::vector<Subcommand> kSubcommands = {
    {"check-config", "validate a config file and change nothing", define_check_config, {"--config"}},
    {"tail", "show the last records of the hosts' logs, and follow them with -f", define_tail,
     {"--config", "--log-dir"}},
    {"hosts", "one row per host: last seen, boots, records, gaps, panics, state", define_hosts,
     {"--config", "--log-dir"}},
};

// A root option given before SC that SC has no use for (--listen before tail): an error, never
// silently ignored. "" when there is none.
std::string misplaced_root_option(const CLI::App& app, const Subcommand& sc) {
  for (const CLI::Option* option : app.get_options()) {
    std::string name = option->get_name();
    if (option->count() == 0 || std::find(sc.root_options.begin(), sc.root_options.end(), name) != sc.root_options.end())
      continue;
    return name + " is the daemon's option: " + sc.name + " does not take it";
  }
  return "";
}

int usage_error(const std::string& message) {
  // Named, as every other error of ours is, so that it reads right in a script's or a unit's log.
  std::cerr << "lastgasp-receiver: " << message << " (see lastgasp-receiver --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lastgasp-receiver: records every host's netconsole output, up to its last words"};
  app.set_version_flag("--version", LASTGASP_VERSION, "print the version and exit");
  app.require_subcommand(0, 1);
  RootOptions root;
  Command run = add_run(app, root);
  std::vector<Command> commands;
  for (const Subcommand& sc : kSubcommands)
    commands.push_back(sc.define(app.add_subcommand(sc.name, sc.description), root));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    return usage_error(e.what());
  }
  for (std::size_t i = 0; i < kSubcommands.size(); ++i) {
    if (!app.get_subcommand(kSubcommands[i].name)->parsed()) continue;
    if (std::string misplaced = misplaced_root_option(app, kSubcommands[i]); !misplaced.empty())
      return usage_error(misplaced);
    return commands[i]();
  }
  return run();
}
