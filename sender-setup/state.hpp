// The state: what lastgasp-setup created and changed, so that `remove` undoes
// exactly that and never touches what someone else made. It is always recorded:
// in /etc/lastgasp/state while the setup is persisted (the values it replaced
// must outlive a reboot, since sysctl.d sets them again at boot), and in
// /run/lastgasp/state while only the running system was changed (--no-persist),
// where it goes away with the changes themselves.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

inline constexpr const char* kStateFile = "/etc/lastgasp/state";
inline constexpr const char* kRuntimeStateFile = "/run/lastgasp/state";
inline constexpr const char* kSenderConfigFile = "/etc/lastgasp/sender.toml";

struct State {
  std::set<std::string> targets;  // configfs targets this tool created
  std::set<std::string> files;    // files and links this tool wrote
  // Values before this tool first changed them, keyed by path
  // (/proc/sys/... or /sys/module/.../parameters/...). Never replaced by a later
  // run, which would find the tool's own value there.
  std::map<std::string, std::string> previous;
  // The value this tool last wrote to each of those paths: `remove` leaves a
  // value that someone changed since. Absent in states written by 0.1.
  std::map<std::string, std::string> written;
  std::set<std::string> boot_args;  // kernel arguments given to grubby, which keeps no file of ours

  bool empty() const { return targets.empty() && files.empty() && previous.empty() && boot_args.empty(); }
  // Files under /etc, an administrator's /etc/kernel/cmdline changed in place
  // and grubby's boot entries bring the setup back at boot, so the state must
  // outlive it too.
  bool persisted() const {
    if (!files.empty() || !boot_args.empty()) return true;
    for (const auto& [path, value] : previous)
      if (path.starts_with("/etc/")) return true;
    return false;
  }
};

// Both state files, merged; absent files are an empty State. A recorded target
// that is gone from configfs (a reboot, or someone's rmdir) is forgotten: a new
// target of that name is not this tool's. Throws Error naming the file on bad content.
State load_state(const Sysroot& root);
// Writes the state where it belongs (see above) if it changed, removes the other
// file, and removes both when the state is empty.
void save_state(Sysroot& root, const State& state);

// Writes CONTENT to PATH unless it is already there, and records the file in STATE.
// Returns whether it wrote.
bool write_owned_file(Sysroot& root, State& state, const std::string& path, const std::string& content);
// Changes the kernel value at PATH to VALUE, saving the first value seen so that
// `remove` can put it back. Returns the old value when it changed something.
std::optional<std::string> change_kernel_value(Sysroot& root, State& state, const std::string& path,
                                               const std::string& value);

}  // namespace lastgasp::setup
