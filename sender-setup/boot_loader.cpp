#include "boot_loader.hpp"

#include <set>
#include <sstream>

#include "error.hpp"

namespace lastgasp::setup {

namespace {

constexpr const char* kGrubDropIn = "/etc/default/grub.d/lastgasp-pstore.cfg";
constexpr const char* kKernelCmdline = "/etc/kernel/cmdline";

std::set<std::string> words(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::set<std::string> found;
  for (std::string word; in >> word;) found.insert(word);
  return found;
}

std::string join(const std::set<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : " ") + item;
  return text;
}

// GRUB's blscfg expands '$' in a BLS entry's options, which grubby writes as
// given; the kernel must see it as is.
std::string grubby_args(const std::set<std::string>& args) {
  std::string escaped;
  for (char c : join(args)) escaped += c == '$' ? std::string("\\$") : std::string(1, c);
  return escaped;
}

// LINE with each word of ARGS that it lacks appended.
std::string with_args(const std::string& line, const std::string& args) {
  std::set<std::string> have = words(line);
  std::string result = trim(line);
  std::istringstream in(args);
  for (std::string word; in >> word;)
    if (!have.contains(word)) result += (result.empty() ? "" : " ") + word;
  return result;
}

// What kernel-install itself falls back to without /etc/kernel/cmdline: the
// running kernel's command line, less what the boot loader adds per entry.
std::string running_cmdline(const Sysroot& root) {
  std::string kept;
  std::istringstream in(root.read("/proc/cmdline").value_or(""));
  for (std::string word; in >> word;)
    if (!word.starts_with("BOOT_IMAGE=") && !word.starts_with("initrd="))
      kept += (kept.empty() ? "" : " ") + word;
  return kept;
}

std::string add_to_kernel_install(Sysroot& root, State& state, const std::string& args) {
  // Built from the line before this tool first changed it, so that a new
  // region replaces the old one instead of joining it.
  if (state.files.contains(kKernelCmdline) || !root.exists(kKernelCmdline)) {
    write_owned_file(root, state, kKernelCmdline, with_args(running_cmdline(root), args) + "\n");
  } else {
    // The administrator's file: `remove` puts its line back.
    auto before = state.previous.find(kKernelCmdline);
    std::string original =
        before != state.previous.end() ? before->second : root.read_trimmed(kKernelCmdline).value_or("");
    change_kernel_value(root, state, kKernelCmdline, with_args(original, args));
  }
  return "Added to " + std::string(kKernelCmdline) + ": reinstall the boot entries so that they take it "
         "(kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz), then reboot.";
}

std::string add_to_grubby(Sysroot& root, State& state, const std::string& program, const std::string& args) {
  std::set<std::string> wanted = words(args);
  std::string done = "grubby added them to every boot entry: reboot.";
  if (state.boot_args == wanted) return done;
  // A region proposed earlier goes first: two would both be reserved.
  if (auto left = remove_grubby_args(root, state)) throw Error(*left);
  root.run({program, "--update-kernel=ALL", "--args=" + grubby_args(wanted)},
           {program, "--update-kernel=ALL", "--remove-args=" + grubby_args(wanted)});
  state.boot_args = wanted;
  return done;
}

}  // namespace

BootLoader detect_boot_loader(const Sysroot& root) {
  for (const char* grubby : {"/usr/sbin/grubby", "/sbin/grubby"})
    if (root.exists(grubby)) return {BootLoaderKind::kGrubby, "grubby", grubby};
  bool systemd_boot = false;
  for (const char* conf : {"/efi/loader/loader.conf", "/boot/efi/loader/loader.conf", "/boot/loader/loader.conf"})
    systemd_boot = systemd_boot || root.exists(conf);
  if (root.exists(kKernelCmdline) || systemd_boot)
    return {BootLoaderKind::kKernelInstall, std::string("systemd-boot (") + kKernelCmdline + ")", ""};
  if (root.exists("/etc/default/grub")) return {BootLoaderKind::kGrub, "GRUB", ""};
  return {};
}

std::string grub_default_escape(std::string_view args) {
  std::string escaped;
  for (char c : args) escaped += c == '$' ? std::string("\\\\\\$") : std::string(1, c);
  return escaped;
}

std::string add_kernel_args(Sysroot& root, State& state, const BootLoader& loader, const std::string& args) {
  switch (loader.kind) {
    case BootLoaderKind::kGrubby:
      return add_to_grubby(root, state, loader.program, args);
    case BootLoaderKind::kKernelInstall:
      return add_to_kernel_install(root, state, args);
    case BootLoaderKind::kGrub:
      write_owned_file(root, state, kGrubDropIn,
                       "# Written by lastgasp-setup: reserve RAM for ramoops, so that the last kernel log\n"
                       "# survives a panic. Run update-grub, then reboot.\n"
                       "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX " + grub_default_escape(args) + "\"\n");
      return "Written to " + std::string(kGrubDropIn) + ": run update-grub, then reboot.";
    case BootLoaderKind::kUnknown:
      break;
  }
  return "No GRUB, systemd-boot or grubby found: add the kernel arguments to your boot loader yourself, "
         "then reboot: " + args;
}

std::optional<std::string> remove_grubby_args(Sysroot& root, State& state) {
  if (state.boot_args.empty()) return std::nullopt;
  BootLoader loader = detect_boot_loader(root);
  if (loader.kind != BootLoaderKind::kGrubby) {
    std::string left = "grubby, which was given the kernel arguments " + join(state.boot_args) +
                       ", is gone: remove them from the boot entries by hand";
    state.boot_args.clear();
    return left;
  }
  root.run({loader.program, "--update-kernel=ALL", "--remove-args=" + grubby_args(state.boot_args)},
           {loader.program, "--update-kernel=ALL", "--args=" + grubby_args(state.boot_args)});
  state.boot_args.clear();
  return std::nullopt;
}

}  // namespace lastgasp::setup
