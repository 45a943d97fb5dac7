// `lastgasp-setup remove [--name NAME]`: undo what the tool did, as recorded in
// its state (/etc/lastgasp/state, or /run/lastgasp/state after --no-persist).
// Targets and files it did not create are never touched, and a value someone
// changed after the tool set it is left as they set it. Best effort: what cannot
// be undone is said, stays recorded, and makes the exit status 2.
#include <nlohmann/json.hpp>

#include "boot_loader.hpp"
#include "boot_option.hpp"
#include "configfs/netconsole_target.hpp"
#include "error.hpp"
#include "persistence.hpp"
#include "state.hpp"
#include "subcommands.hpp"

namespace lastgasp::setup {

namespace {

// What was undone, left alone and not undone, for the words and for --json.
struct Outcome {
  nlohmann::json targets = nlohmann::json::array();
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json restored = nlohmann::json::array();
  nlohmann::json left = nlohmann::json::array();    // changed since by someone else
  nlohmann::json failed = nlohmann::json::array();  // could not be undone; still recorded

  void fail(const Context& ctx, const std::string& what) {
    ctx.err << "lastgasp-setup remove: could not " << what << "\n";
    failed.push_back(what);
  }
};

void remove_target(Context& ctx, State& state, const std::string& name, Outcome& outcome) {
  NetconsoleTarget target(ctx.root, name);
  try {
    if (target.exists()) target.remove();
  } catch (const std::exception& e) {
    outcome.fail(ctx, "remove netconsole target '" + name + "': " + e.what());
    return;
  }
  ctx.say_change("remove", "netconsole target '" + name + "'");
  outcome.targets.push_back(name);
  state.targets.erase(name);
}

void remove_files(Context& ctx, State& state, Outcome& outcome) {
  for (const std::string& file : std::set<std::string>(state.files)) {
    try {
      if (ctx.root.exists(file)) ctx.root.remove_file(file);
    } catch (const std::exception& e) {
      outcome.fail(ctx, std::string("remove ") + e.what());
      continue;
    }
    ctx.say_change("remove", file);
    outcome.files.push_back(file);
    state.files.erase(file);
  }
}

// Puts PATH back to BEFORE. Returns false when that failed and the value must
// stay recorded for the next `remove`.
bool restore_value(Context& ctx, const State& state, const std::string& path, const std::string& before,
                   Outcome& outcome) {
  auto current = ctx.root.read_trimmed(path);
  if (!current) {
    ctx.warn(path + " is gone (its module unloaded?), so its value " + before + " cannot be put back");
    outcome.left.push_back({{"path", path}, {"before", before}, {"current", nullptr}});
    return true;
  }
  if (*current == before) return true;
  auto written = state.written.find(path);
  if (written != state.written.end() && written->second != *current) {
    ctx.warn("left " + path + " at " + *current + ": it was changed after lastgasp-setup set it to " +
             written->second + " (it was " + before + " before)");
    outcome.left.push_back({{"path", path}, {"before", before}, {"current", *current}});
    return true;
  }
  try {
    ctx.root.write(path, before);
  } catch (const std::exception& e) {
    outcome.fail(ctx, "restore " + path + " to " + before + ": " + e.what());
    return false;
  }
  ctx.say_change("restore", path + ": " + *current + " -> " + before);
  outcome.restored.push_back({{"path", path}, {"before", *current}, {"after", before}});
  return true;
}

void restore_values(Context& ctx, State& state, Outcome& outcome) {
  for (auto it = state.previous.begin(); it != state.previous.end();) {
    if (!restore_value(ctx, state, it->first, it->second, outcome)) {
      ++it;
      continue;
    }
    state.written.erase(it->first);
    it = state.previous.erase(it);
  }
}

// The kernel arguments grubby was given. A grubby that fails leaves them
// recorded for the next `remove`; a grubby that is gone never comes back to take
// them, so they are forgotten and left to the user, with a warning.
void remove_boot_args(Context& ctx, State& state, Outcome& outcome) {
  if (state.boot_args.empty()) return;
  std::string args;
  for (const std::string& arg : state.boot_args) args += (args.empty() ? "" : " ") + arg;
  try {
    if (auto left = remove_grubby_args(ctx.root, state)) {
      ctx.warn(*left);
      outcome.left.push_back({{"kernel_args", args}, {"reason", *left}});
      return;
    }
  } catch (const std::exception& e) {
    outcome.fail(ctx, "remove the kernel arguments " + args + " with grubby: " + e.what());
    return;
  }
  outcome.restored.push_back({{"kernel_args", args}, {"by", "grubby"}});
}

// `remove --name NAME`: the live target and its entry in sender.toml, so that
// the boot-time unit does not bring it back, and its entry in the netconsole=
// option, which the others keep.
void remove_one_target(Context& ctx, State& state, const std::string& name, Outcome& outcome) {
  config::SenderFile saved = load_saved_targets(ctx.root);
  const config::SenderConfig::Netconsole* entry = saved.find(name);
  std::string live = entry ? live_target_name(ctx.root, *entry, state) : name;
  if (!entry && !state.targets.contains(live))
    throw Error("netconsole target '" + name + "' was not made by lastgasp-setup, so it is left alone");
  if (state.targets.contains(live)) remove_target(ctx, state, live, outcome);
  if (!entry) return;
  bool owned_boot_option = entry->boot_option;
  std::erase_if(saved.targets, [&](const auto& target) { return target.name == name; });
  if (owned_boot_option) write_boot_option(ctx, state, saved, {});
  save_saved_targets(ctx.root, state, saved);
}

int run_remove(Context& ctx, const std::string& only) {
  State state = load_state(ctx.root);
  if (state.empty()) {
    ctx.say("Nothing to remove: lastgasp-setup has set up nothing here (no " + std::string(kStateFile) + " or " +
            kRuntimeStateFile + ").");
    if (ctx.json) ctx.print_json({{"changed", false}});
    return kExitOk;
  }
  Outcome outcome;
  if (!only.empty()) remove_one_target(ctx, state, only, outcome);
  else
    for (const std::string& name : std::set<std::string>(state.targets)) remove_target(ctx, state, name, outcome);
  // The persisted files and the knobs belong to the setup as a whole: they go
  // with its last target, live or saved; so do the kernel arguments grubby was given.
  if (state.targets.empty() && (only.empty() || load_saved_targets(ctx.root).targets.empty())) {
    remove_boot_args(ctx, state, outcome);
    remove_files(ctx, state, outcome);
    restore_values(ctx, state, outcome);
  }
  save_state(ctx.root, state);
  if (!outcome.failed.empty())
    ctx.err << "lastgasp-setup remove: what could not be undone is still recorded: fix the cause and run "
               "lastgasp-setup remove again\n";
  if (ctx.json)
    ctx.print_json({{"changed", ctx.root.change_count() > 0}, {"targets", outcome.targets},
                    {"files", outcome.files}, {"restored", outcome.restored}, {"left", outcome.left},
                    {"failed", outcome.failed}});
  return outcome.failed.empty() ? kExitOk : kExitError;
}

}  // namespace

SubcommandRun define_remove(CLI::App& command) {
  auto name = std::make_shared<std::string>();
  command.add_option("--name", *name, "remove only this target (the rest goes with the last target)");
  return [name](Context& ctx) { return run_remove(ctx, *name); };
}

}  // namespace lastgasp::setup
