// What the running kernel was built with, for the parts that may be built in,
// a module, or missing: netconsole, configfs, ramoops. Asking before acting is
// what keeps the tool from proposing `modprobe netconsole` on a kernel that has
// no netconsole, or a ramoops region on a kernel without ramoops. The evidence,
// strongest first: /sys/module (loaded), /proc/filesystems (registered), the
// modules directory (modules.builtin, modules.dep and the module file), and the
// build configuration (/proc/config.gz, /boot/config-RELEASE). All are read
// through the Sysroot, so a --root tree stands in for the kernel.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sysroot.hpp"

namespace lastgasp::setup {

enum class Support {
  kPresent,  // loaded, registered, built in, or a module that can be loaded
  kAbsent,   // the kernel cannot have it: the evidence says why
  kUnknown,  // nothing to tell from (no modules directory, no config): try and see
};

struct KernelSupport {
  Support support = Support::kUnknown;
  // Where the answer came from: "loaded", "built in (modules.builtin)",
  // "CONFIG_NETCONSOLE is not set in /boot/config-6.1.0-13-amd64".
  std::string evidence;
  bool built_in = false;  // reads its parameters from the kernel command line, never from modprobe.d
  bool absent() const { return support == Support::kAbsent; }
};

// The kernel release, from /proc/sys/kernel/osrelease ("" when unreadable).
std::string kernel_release(const Sysroot& root);

// The build configuration of the running kernel: /proc/config.gz (CONFIG_IKCONFIG_PROC),
// else /boot/config-RELEASE, as distributions install it.
class KernelConfig {
 public:
  explicit KernelConfig(const Sysroot& root);
  bool found() const { return !source_.empty(); }
  const std::string& source() const { return source_; }
  // "y", "m", a value, or "n" (for "# CONFIG_X is not set" and for a symbol the
  // file does not mention); nullopt when there is no configuration to read.
  std::optional<std::string> value(std::string_view symbol) const;

 private:
  std::string source_;
  std::string text_;
};

// MODULE (its file's name, "netconsole") built as CONFIG_SYMBOL.
KernelSupport module_support(const Sysroot& root, const KernelConfig& config, std::string_view module,
                             std::string_view symbol);
// A filesystem that may be a module: /proc/filesystems first.
KernelSupport filesystem_support(const Sysroot& root, const KernelConfig& config, std::string_view fstype,
                                 std::string_view module, std::string_view symbol);

// What netconsole targets need of the kernel, each its own item in `check`:
// the netconsole module, configfs, and netconsole's configfs side.
struct NetconsoleSupport {
  KernelSupport netconsole;
  KernelSupport configfs;
  KernelSupport dynamic;  // CONFIG_NETCONSOLE_DYNAMIC, a build option only
  // The first thing the kernel lacks, as a sentence; nullopt when nothing is known to be missing.
  std::optional<std::string> missing() const;
};
NetconsoleSupport netconsole_support(const Sysroot& root);

// What to do about a kernel that lacks netconsole's parts.
inline constexpr const char* kNetconsoleKernelAdvice =
    "boot a kernel built with CONFIG_NETCONSOLE=m, CONFIG_NETCONSOLE_DYNAMIC=y and CONFIG_CONFIGFS_FS "
    "(Debian's, Fedora's and Ubuntu's are)";

// What to do about a kernel without ramoops.
inline constexpr const char* kRamoopsKernelAdvice =
    "boot a kernel built with CONFIG_PSTORE_RAM (Debian's, Fedora's and Ubuntu's are), or use a firmware "
    "backend (efi_pstore, ERST)";

}  // namespace lastgasp::setup
