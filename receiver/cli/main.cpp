#include <iostream>
#include <vector>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"lastgasp-receiver: records every host's netconsole output, up to its last words"};
  app.require_subcommand(0, 1);
  lastgasp::cli::Command run = lastgasp::cli::add_run(app);
  std::vector<std::pair<CLI::App*, lastgasp::cli::Command>> subcommands;
  auto add = [&](auto adder) {
    std::size_t before = app.get_subcommands({}).size();
    lastgasp::cli::Command command = adder(app);
    subcommands.emplace_back(app.get_subcommands({})[before], std::move(command));
  };
  add(lastgasp::cli::add_check_config);
  add(lastgasp::cli::add_tail);
  add(lastgasp::cli::add_hosts);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  for (auto& [sub, command] : subcommands)
    if (sub->parsed()) return command();
  return run();
}
