// The files that keep the setup across reboots: the boot-time unit and its
// enablement link, sysctl.d and tmpfiles.d for the knobs, and the netconsole=
// module option (modprobe.d plus modules-load.d).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sender_config.hpp"
#include "state.hpp"
#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

inline constexpr const char* kUnitFile = "/etc/systemd/system/lastgasp-setup.service";
inline constexpr const char* kUnitWantsLink = "/etc/systemd/system/multi-user.target.wants/lastgasp-setup.service";
inline constexpr const char* kSysctlFile = "/etc/sysctl.d/90-lastgasp.conf";
inline constexpr const char* kTmpfilesFile = "/etc/tmpfiles.d/lastgasp.conf";
inline constexpr const char* kNetconsoleModprobeFile = "/etc/modprobe.d/lastgasp-netconsole.conf";
inline constexpr const char* kNetconsoleModulesLoadFile = "/etc/modules-load.d/lastgasp-netconsole.conf";

inline constexpr const char* kWatchUnitFile = "/etc/systemd/system/lastgasp-watch.service";
inline constexpr const char* kWatchUnitWantsLink = "/etc/systemd/system/multi-user.target.wants/lastgasp-watch.service";

// A unit template from dist/ (kUnitTemplate, kCollectUnitTemplate, kWatchUnitTemplate), with
// %LASTGASP_SETUP% replaced by EXECUTABLE.
std::string unit_text(std::string text, const std::string& executable);
// This program's own path, for the units' ExecStart.
std::string own_executable();

// Enables the unit named as FILE through WANTS_LINK: the vendor unit the
// lastgasp-setup package ships when this root has it, else UNIT_TEMPLATE (from
// dist/, running this program) written as FILE. Both recorded in STATE for `remove`.
void install_enabled_unit(Sysroot& root, State& state, const char* file, const char* wants_link,
                          const char* unit_template);
// lastgasp-setup.service, the boot unit that runs `apply`.
void install_unit(Sysroot& root, State& state);
// lastgasp-watch.service, which runs `watch`.
void install_watch_unit(Sysroot& root, State& state);
// A modprobe.d "options" line. Every value is quoted: the kernel's parameter
// parser strips the quotes, and a value with a space would otherwise be cut.
std::string modprobe_options(const std::string& module,
                             const std::vector<std::pair<std::string, std::string>>& params);
// Removes FILE if this tool wrote it.
void remove_owned_file(Sysroot& root, State& state, const std::string& file);

// Every target in /etc/lastgasp/sender.toml; none when the file is absent.
// Throws Error when it cannot be read.
config::SenderFile load_saved_targets(const Sysroot& root);
// Writes SAVED to /etc/lastgasp/sender.toml, or removes the file when it holds no target.
void save_saved_targets(Sysroot& root, State& state, const config::SenderFile& saved);

}  // namespace lastgasp::setup
