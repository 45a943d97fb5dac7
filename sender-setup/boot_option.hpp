// The netconsole= module option: one entry per saved target that has
// boot_option, in sender.toml order, joined with ';'. From it the kernel makes
// the boot-time targets cmdline0, cmdline1... at module load, and replays its
// ring buffer to each; the boot unit then adopts them (mkdir cmdlineN attaches
// to the Nth). The whole option must fit in the kernel's 255 bytes.
#pragma once

#include <map>
#include <string>

#include "context.hpp"
#include "netlink/path_resolver.hpp"
#include "sender_config.hpp"
#include "state.hpp"

namespace lastgasp::setup {

// The kernel's name for the boot-time target made from the option's Ith entry.
std::string boot_target_name(std::size_t index);
bool is_boot_target_name(const std::string& name);
// The index of the entry of SAVED's target NAME in the option: how many targets
// with boot_option come before it.
std::size_t boot_index(const config::SenderFile& saved, const std::string& name);

// One entry, for CONFIG sent along PATH: [+][r]SRCPORT@SRC/DEV,PORT@DST/MAC.
std::string format_boot_option(const config::SenderConfig& config, const NetPath& path, bool release);

// The configfs name of SAVED's live target: for a target with boot_option, the
// boot-time target of this tool's that sends to its receiver, once the unit has
// adopted it (its index may have moved since: the kernel numbered them at boot).
std::string live_target_name(const Sysroot& root, const config::SenderConfig::Netconsole& saved, const State& state);

// Writes the option (modprobe.d, with modules-load.d to load the module early)
// for every target of SAVED that has boot_option, or removes both files when
// none has. A target's entry is FRESH's (the entries of paths resolved in this
// run, by target name), else its live target's, else the one in the option
// written before. A target whose entry cannot be known, or that does not fit
// in the 255 bytes after the ones before it, loses boot_option (SAVED is
// changed; the caller saves it), and this is said. Throws Error when the first
// entry alone is too long.
void write_boot_option(Context& ctx, State& state, config::SenderFile& saved,
                       const std::map<std::string, std::string>& fresh);

}  // namespace lastgasp::setup
