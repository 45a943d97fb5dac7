// `lastgasp-setup remove [--name NAME]`: undo what the tool did, as recorded in
// /etc/lastgasp/state. Targets and files it did not create are never touched.
#include <nlohmann/json.hpp>

#include "boot_loader.hpp"
#include "configfs/netconsole_target.hpp"
#include "error.hpp"
#include "state.hpp"
#include "subcommands.hpp"

namespace lastgasp::setup {

namespace {

// What was undone, for --json.
struct Removed {
  nlohmann::json targets = nlohmann::json::array();
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json restored = nlohmann::json::array();
};

void remove_target(Context& ctx, State& state, const std::string& name, Removed& removed) {
  NetconsoleTarget target(ctx.root, name);
  if (target.exists()) {
    target.remove();
    ctx.say("removed netconsole target '" + name + "'");
    removed.targets.push_back(name);
  }
  state.targets.erase(name);
}

void remove_files(Context& ctx, State& state, Removed& removed) {
  for (const std::string& file : state.files) {
    if (!ctx.root.exists(file)) continue;
    ctx.root.remove_file(file);
    ctx.say("removed " + file);
    removed.files.push_back(file);
  }
  state.files.clear();
}

void restore_values(Context& ctx, State& state, Removed& removed) {
  for (const auto& [path, value] : state.previous) {
    auto current = ctx.root.read_trimmed(path);
    if (!current || *current == value) continue;
    ctx.root.write(path, value);
    ctx.say("restored " + path + ": " + *current + " -> " + value);
    removed.restored.push_back({{"path", path}, {"before", *current}, {"after", value}});
  }
  state.previous.clear();
}

int run_remove(Context& ctx, const std::string& only) {
  State state = load_state(ctx.root);
  Removed removed;
  if (state.empty()) {
    ctx.say("Nothing to remove: lastgasp-setup has set up nothing here (no " + std::string(kStateFile) + ").");
    if (ctx.json) ctx.print_json({{"changed", false}});
    return kExitOk;
  }
  if (!only.empty()) {
    if (!state.targets.contains(only))
      throw Error("netconsole target '" + only + "' was not created by lastgasp-setup, so it is left alone");
    remove_target(ctx, state, only, removed);
  } else {
    for (const std::string& name : std::set<std::string>(state.targets)) remove_target(ctx, state, name, removed);
  }
  // The persisted files and the knobs belong to the setup as a whole: they go
  // with its last target.
  if (state.targets.empty()) {
    if (auto left = remove_grubby_args(ctx.root, state)) ctx.warn(*left);
    remove_files(ctx, state, removed);
    restore_values(ctx, state, removed);
  }
  save_state(ctx.root, state);
  if (ctx.root.is_dir("/etc/lastgasp") && ctx.root.list_dir("/etc/lastgasp").empty())
    ctx.root.remove_dir("/etc/lastgasp");
  if (ctx.json)
    ctx.print_json({{"changed", ctx.root.change_count() > 0}, {"targets", removed.targets},
                    {"files", removed.files}, {"restored", removed.restored}});
  return kExitOk;
}

}  // namespace

SubcommandRun define_remove(CLI::App& command) {
  auto name = std::make_shared<std::string>();
  command.add_option("--name", *name, "remove only this target (the rest goes with the last target)");
  return [name](Context& ctx) { return run_remove(ctx, *name); };
}

}  // namespace lastgasp::setup
