// Kernel arguments that must survive a reboot (a ramoops region), added where
// this host's boot loader reads them: grubby on Fedora and RHEL, kernel-install's
// /etc/kernel/cmdline for systemd-boot, a drop-in for Debian's GRUB. Detected
// from the files and tools under the root, changed through the Sysroot, so
// --dry-run shows each step and a failure undoes it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "state.hpp"
#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

enum class BootLoaderKind { kGrubby, kKernelInstall, kGrub, kUnknown };

struct BootLoader {
  BootLoaderKind kind = BootLoaderKind::kUnknown;
  std::string name;     // for people: "grubby", "systemd-boot (/etc/kernel/cmdline)", "GRUB"
  std::string program;  // grubby's path; empty for the others
};

BootLoader detect_boot_loader(const Sysroot& root);

// ARGS (raw, as the kernel reads them) as they must be written inside a
// double-quoted value of /etc/default/grub: shell first, then GRUB, each takes
// one level of escaping from '$'.
std::string grub_default_escape(std::string_view args);

// Adds ARGS (raw) to the kernel command line of every boot, recording in STATE
// what `remove` must undo. Returns a sentence: where they went and what the user
// must still do ("run update-grub, then reboot"; with no boot loader found, add
// them by hand).
std::string add_kernel_args(Sysroot& root, State& state, const BootLoader& loader, const std::string& args);

// Takes away the arguments add_kernel_args gave grubby, as recorded in STATE.
// Returns what it could not undo, as a sentence for the user, who must then do it.
std::optional<std::string> remove_grubby_args(Sysroot& root, State& state);

}  // namespace lastgasp::setup
