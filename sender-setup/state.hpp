// /etc/lastgasp/state: what lastgasp-setup created and changed, so that
// `remove` undoes exactly that and never touches what someone else made.
#pragma once

#include <map>
#include <set>
#include <string>

#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

inline constexpr const char* kStateFile = "/etc/lastgasp/state";
inline constexpr const char* kSenderConfigFile = "/etc/lastgasp/sender.toml";

struct State {
  std::set<std::string> targets;  // configfs targets this tool created
  std::set<std::string> files;    // files and links this tool wrote
  // Values before this tool first changed them, keyed by path
  // (/proc/sys/... or /sys/module/.../parameters/...).
  std::map<std::string, std::string> previous;
  std::set<std::string> boot_args;  // kernel arguments given to grubby, which keeps no file of ours

  bool empty() const { return targets.empty() && files.empty() && previous.empty() && boot_args.empty(); }
};

// An absent file is an empty State. Throws Error naming the file on bad content.
State load_state(const Sysroot& root);
// Writes the state if it changed; removes the file when the state is empty.
void save_state(Sysroot& root, const State& state);

// Writes CONTENT to PATH unless it is already there, and records the file in STATE.
// Returns whether it wrote.
bool write_owned_file(Sysroot& root, State& state, const std::string& path, const std::string& content);
// Changes the kernel value at PATH to VALUE, saving the first value seen so that
// `remove` can put it back. Returns the old value when it changed something.
std::optional<std::string> change_kernel_value(Sysroot& root, State& state, const std::string& path,
                                               const std::string& value);

}  // namespace lastgasp::setup
