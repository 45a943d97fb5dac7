#include "persistence.hpp"

#include <unistd.h>

#include <filesystem>
#include <optional>

#include "error.hpp"
#include "toml_reader.hpp"
#include "unit_template.hpp"
#include "watch_unit_template.hpp"

namespace lastgasp::setup {

std::string unit_text(std::string text, const std::string& executable) {
  const std::string placeholder = "%LASTGASP_SETUP%";
  for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at))
    text.replace(at, placeholder.size(), executable);
  return text;
}

std::string own_executable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "/usr/sbin/lastgasp-setup" : path.string();
}

namespace {

// The unit as the lastgasp-setup package ships it, in Debian's vendor
// directories: there an upgrade replaces it and `systemctl edit` overrides stay
// overrides. Without the package (a build tree), there is none.
std::optional<std::string> vendor_unit(const Sysroot& root, const std::string& name) {
  for (const char* dir : {"/usr/lib/systemd/system/", "/lib/systemd/system/"})
    if (root.exists(dir + name)) return dir + name;
  return std::nullopt;
}

}  // namespace

void install_enabled_unit(Sysroot& root, State& state, const char* file, const char* wants_link,
                          const char* unit_template) {
  std::string unit = file;
  if (auto vendor = vendor_unit(root, std::filesystem::path(file).filename())) {
    // A copy this tool wrote before the package came would shadow the vendor unit.
    remove_owned_file(root, state, file);
    unit = *vendor;
  } else {
    write_owned_file(root, state, file, unit_text(unit_template, own_executable()));
  }
  // What `systemctl enable` does, done by hand so that it works under --root
  // and in an initramfs without systemctl.
  state.files.insert(wants_link);
  std::error_code ec;
  if (root.exists(wants_link) && std::filesystem::read_symlink(root.host_path(wants_link), ec) == unit) return;
  if (root.exists(wants_link)) root.remove_file(wants_link);
  root.make_symlink(unit, wants_link);
}

void install_unit(Sysroot& root, State& state) {
  install_enabled_unit(root, state, kUnitFile, kUnitWantsLink, kUnitTemplate);
}

void install_watch_unit(Sysroot& root, State& state) {
  install_enabled_unit(root, state, kWatchUnitFile, kWatchUnitWantsLink, kWatchUnitTemplate);
}

std::string modprobe_options(const std::string& module,
                             const std::vector<std::pair<std::string, std::string>>& params) {
  std::string line = "options " + module;
  for (const auto& [param, value] : params) line += " " + param + "=\"" + value + "\"";
  return line + "\n";
}

void remove_owned_file(Sysroot& root, State& state, const std::string& file) {
  if (!state.files.contains(file)) return;
  if (root.exists(file)) root.remove_file(file);
  state.files.erase(file);
}

config::SenderFile load_saved_targets(const Sysroot& root) {
  if (!root.exists(kSenderConfigFile)) return {};
  try {
    return config::load_sender_file(root.host_path(kSenderConfigFile));
  } catch (const config::ConfigError& e) {
    throw Error(std::string(e.what()) + " (fix it, or delete it and run lastgasp-setup netconsole for each receiver)");
  }
}

void save_saved_targets(Sysroot& root, State& state, const config::SenderFile& saved) {
  if (saved.targets.empty()) remove_owned_file(root, state, kSenderConfigFile);
  else write_owned_file(root, state, kSenderConfigFile, config::format_sender_file(saved));
}

}  // namespace lastgasp::setup
