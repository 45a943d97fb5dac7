#include "state.hpp"

#include <sstream>

#include <toml++/toml.h>

#include "error.hpp"
#include "toml_reader.hpp"

namespace lastgasp::setup {

namespace {

std::set<std::string> read_set(config::TableReader& reader, std::string_view key) {
  auto items = reader.strings(key).value_or(std::vector<std::string>{});
  return {items.begin(), items.end()};
}

toml::array to_array(const std::set<std::string>& items) {
  toml::array array;
  for (const std::string& item : items) array.push_back(item);
  return array;
}

std::string format_state(const State& state) {
  toml::table previous;
  for (const auto& [path, value] : state.previous) previous.insert(path, value);
  toml::table root{{"targets", to_array(state.targets)}, {"files", to_array(state.files)},
                   {"previous", previous}};
  if (!state.boot_args.empty()) root.insert("boot_args", to_array(state.boot_args));
  std::ostringstream out;
  out << "# Written by lastgasp-setup: what it created and the values it replaced.\n"
         "# 'lastgasp-setup remove' reads this to undo exactly that. Do not edit.\n\n"
      << toml::toml_formatter(root) << "\n";
  return out.str();
}

}  // namespace

State load_state(const Sysroot& root) {
  State state;
  if (!root.exists(kStateFile)) return state;
  std::filesystem::path file = root.host_path(kStateFile);
  try {
    toml::table table = config::parse_toml_file(file);
    config::TableReader reader(table, file);
    state.targets = read_set(reader, "targets");
    state.files = read_set(reader, "files");
    state.boot_args = read_set(reader, "boot_args");
    if (const toml::table* previous = reader.table("previous")) {
      config::TableReader values(*previous, file, "previous");
      for (const auto& [key, node] : *previous) state.previous[std::string(key.str())] = *values.string(key.str());
    }
    reader.reject_unknown_keys();
  } catch (const config::ConfigError& e) {
    throw Error(std::string(e.what()) + " (fix or delete the state file)");
  }
  return state;
}

void save_state(Sysroot& root, const State& state) {
  if (state.empty()) {
    if (root.exists(kStateFile)) root.remove_file(kStateFile);
    return;
  }
  std::string content = format_state(state);
  if (root.read(kStateFile) != content) root.write_file(kStateFile, content);
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
  root.write(path, value);
  return current;
}

}  // namespace lastgasp::setup
