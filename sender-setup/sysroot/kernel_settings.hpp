// The kernel's knobs as the tool sees them: sysctls under /proc/sys, module
// parameters under /sys/module, and the facts about kdump and mounts that decide
// what to set. All reads and writes go through the Sysroot, so --root and
// --dry-run apply.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sysroot.hpp"

namespace lastgasp::setup {

// "kernel.panic" -> "/proc/sys/kernel/panic"
std::string sysctl_path(std::string_view name);
std::optional<std::string> read_sysctl(const Sysroot& root, std::string_view name);
void write_sysctl(Sysroot& root, std::string_view name, std::string_view value);

// "kernel", "crash_kexec_post_notifiers" -> "/sys/module/kernel/parameters/crash_kexec_post_notifiers"
std::string module_param_path(std::string_view module, std::string_view param);
std::optional<std::string> read_module_param(const Sysroot& root, std::string_view module,
                                             std::string_view param);

// The first field of kernel.printk, which gates every console.
std::optional<int> console_loglevel(const Sysroot& root);
// kernel.printk with its first field replaced by LEVEL and the other three kept.
std::optional<std::string> printk_with_console_loglevel(const Sysroot& root, int level);

bool kdump_loaded(const Sysroot& root);
// A module parameter of type bool reads "Y" or "N" (or 1/0 on old kernels).
bool is_true(std::string_view value);
// Whether DEV is a Wi-Fi device: sysfs knows, netlink's link message does not say.
bool is_wireless(const Sysroot& root, const std::string& dev);
// Syslog levels for write_kmsg.
inline constexpr int kKmsgError = 3;
inline constexpr int kKmsgWarning = 4;
inline constexpr int kKmsgNotice = 5;
// Writes one LINE at LEVEL into the kernel log (/dev/kmsg under the root),
// where the consoles, netconsole among them, see it. Not a change to undo, so
// not journaled. Returns 0 or the errno.
int write_kmsg(const Sysroot& root, int level, std::string_view line);

// Whether a filesystem of TYPE is mounted at MOUNT_POINT, from /proc/mounts.
bool is_mounted(const Sysroot& root, std::string_view mount_point, std::string_view type);

}  // namespace lastgasp::setup
