#include "state.hpp"

#include <filesystem>
#include <sstream>

#include <toml++/toml.h>

#include "configfs/netconsole_target.hpp"
#include "error.hpp"
#include "toml_reader.hpp"

namespace lastgasp::setup {

namespace {

std::set<std::string> read_set(config::TableReader& reader, std::string_view key) {
  auto items = reader.strings(key).value_or(std::vector<std::string>{});
  return {items.begin(), items.end()};
}

void read_map(config::TableReader& reader, const std::filesystem::path& file, std::string_view key,
              std::map<std::string, std::string>& into) {
  const toml::table* table = reader.table(key);
  if (!table) return;
  config::TableReader values(*table, file, std::string(key));
  // The first file read wins: that is the value from before the tool changed it.
  for (const auto& [path, node] : *table) into.emplace(std::string(path.str()), *values.string(path.str()));
}

toml::array to_array(const std::set<std::string>& items) {
  toml::array array;
  for (const std::string& item : items) array.push_back(item);
  return array;
}

toml::table to_table(const std::map<std::string, std::string>& values) {
  toml::table table;
  for (const auto& [path, value] : values) table.insert(path, value);
  return table;
}

std::string format_state(const State& state) {
  toml::table root{{"targets", to_array(state.targets)}, {"files", to_array(state.files)},
                   {"previous", to_table(state.previous)}, {"written", to_table(state.written)}};
  if (!state.boot_args.empty()) root.insert("boot_args", to_array(state.boot_args));
  std::ostringstream out;
  out << "# Written by lastgasp-setup: what it created, the values it replaced and what it wrote.\n"
         "# 'lastgasp-setup remove' reads this to undo exactly that. Do not edit.\n\n"
      << toml::toml_formatter(root) << "\n";
  return out.str();
}

void merge_state_file(const Sysroot& root, const char* system_path, State& state) {
  if (!root.exists(system_path)) return;
  std::filesystem::path file = root.host_path(system_path);
  try {
    toml::table table = config::parse_toml_file(file);
    config::TableReader reader(table, file);
    state.targets.merge(read_set(reader, "targets"));
    state.files.merge(read_set(reader, "files"));
    read_map(reader, file, "previous", state.previous);
    read_map(reader, file, "written", state.written);
    state.boot_args.merge(read_set(reader, "boot_args"));
    reader.reject_unknown_keys();
  } catch (const config::ConfigError& e) {
    throw Error(std::string(e.what()) + " (fix or delete the state file)");
  }
}

// Removes SYSTEM_PATH, and its directory when that is left empty.
void remove_state_file(Sysroot& root, const char* system_path) {
  if (!root.exists(system_path)) return;
  root.remove_file(system_path);
  std::string dir = std::filesystem::path(system_path).parent_path().string();
  if (!root.dry_run() && root.is_dir(dir) && root.list_dir(dir).empty()) root.remove_dir(dir);
}

}  // namespace

State load_state(const Sysroot& root) {
  State state;
  merge_state_file(root, kStateFile, state);
  merge_state_file(root, kRuntimeStateFile, state);
  std::erase_if(state.targets, [&root](const std::string& name) {
    return !root.is_dir(std::string(kNetconsoleConfigfs) + "/" + name);
  });
  return state;
}

void save_state(Sysroot& root, const State& state) {
  const char* home = state.persisted() ? kStateFile : kRuntimeStateFile;
  remove_state_file(root, state.persisted() ? kRuntimeStateFile : kStateFile);
  if (state.empty()) {
    remove_state_file(root, home);
    return;
  }
  std::string content = format_state(state);
  if (root.read(home) != content) root.write_file(home, content);
}

bool write_owned_file(Sysroot& root, State& state, const std::string& path, const std::string& content) {
  state.files.insert(path);
  if (root.read(path) == content) return false;
  root.write_file(path, content);
  return true;
}

std::optional<std::string> change_kernel_value(Sysroot& root, State& state, const std::string& path,
                                               const std::string& value) {
  auto current = root.read_trimmed(path);
  if (!current) throw Error("cannot read " + root.host_path(path).string() + ": is this kernel's /proc and /sys mounted?");
  if (*current == value) return std::nullopt;
  state.previous.emplace(path, *current);
  state.written[path] = value;
  root.write(path, value);
  return current;
}

}  // namespace lastgasp::setup
