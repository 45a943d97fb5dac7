// `lastgasp-setup pstore [--apply]`: find the pstore backend; where there is
// none on x86, propose a ramoops region (and with --apply persist it); and make
// sure the records are collected after the reboot.
#include <sys/mount.h>
#include <sys/utsname.h>

#include <charconv>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "boot_loader.hpp"
#include "error.hpp"
#include "persistence.hpp"
#include "pstore_probe.hpp"
#include "state.hpp"
#include "subcommands.hpp"
#include "sysroot/kernel_features.hpp"
#include "sysroot/kernel_settings.hpp"

namespace lastgasp::setup {

namespace {

constexpr const char* kRamoopsModprobeFile = "/etc/modprobe.d/lastgasp-ramoops.conf";
constexpr const char* kRamoopsModulesLoadFile = "/etc/modules-load.d/lastgasp-ramoops.conf";
constexpr const char* kPstoreConfDropIn = "/etc/systemd/pstore.conf.d/lastgasp.conf";
constexpr const char* kPstoreWantsLink = "/etc/systemd/system/sysinit.target.wants/systemd-pstore.service";


// ramoops keeps only part 1 of each dump, so the dmesg record is the newest
// min(record_size, kmsg_bytes) bytes: both are raised together.
constexpr std::uint64_t kRegionSize = 1u << 20;
constexpr std::uint64_t kRecordSize = 64u << 10;
constexpr std::uint64_t kConsoleSize = 256u << 10;

bool is_x86() {
  utsname name{};
  if (uname(&name) != 0) return false;
  std::string machine = name.machine;
  return machine == "x86_64" || (machine.size() == 4 && machine[0] == 'i' && machine.ends_with("86"));
}

// memmap=, not reserve_mem= (v6.11), even where ramoops has mem_name: reserve_mem takes what
// memblock has free at each boot, and KASLR may put the new kernel where the last boot's region
// was (the kernel says so: "it is not guaranteed to be the same location"); the panic's record is
// then gone. Under qemu (e2e_pstore_6.12) it was lost in one initramfs layout out of three. A
// memmap= region is e820-reserved at a fixed address, and the decompressor's KASLR avoids it.

// The region an earlier --apply put on this boot's command line (memmap=1M$ADDR): running pstore
// again before ramoops is loaded must keep it where it is, not split /proc/iomem's range anew.
std::optional<std::uint64_t> region_on_command_line(const Sysroot& root) {
  const std::string prefix = "memmap=" + std::to_string(kRegionSize >> 20) + "M$";
  std::istringstream words(root.read("/proc/cmdline").value_or(""));
  std::string word;
  while (words >> word) {
    if (!word.starts_with(prefix)) continue;
    std::uint64_t address = 0;
    std::string_view digits = std::string_view(word).substr(prefix.size());
    if (!digits.starts_with("0x")) continue;
    auto [end, ec] = std::from_chars(digits.data() + 2, digits.data() + digits.size(), address, 16);
    if (ec == std::errc() && end == digits.data() + digits.size() && address % kRegionSize == 0) return address;
  }
  return std::nullopt;
}

// A 1 MiB-aligned region in the middle of the largest System RAM range below
// 4 GiB, away from the kernel image (low) and the initrd (high).
std::optional<std::uint64_t> pick_memmap_address(const Sysroot& root) {
  if (auto kept = region_on_command_line(root)) return kept;
  std::istringstream iomem(root.read("/proc/iomem").value_or(""));
  std::string line;
  std::uint64_t best_start = 0, best_size = 0;
  while (std::getline(iomem, line)) {
    if (line.empty() || line[0] == ' ' || line.find(": System RAM") == std::string::npos) continue;
    std::uint64_t start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &start, &end) != 2 || end >= (1ull << 32) || end <= start) continue;
    if (end - start + 1 > best_size) best_start = start, best_size = end - start + 1;
  }
  if (best_size < 64 * kRegionSize) return std::nullopt;  // also: zeros when not root
  return (best_start + best_size / 2) & ~(kRegionSize - 1);
}

std::string hex(std::uint64_t value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(value));
  return buf;
}

struct RamoopsProposal {
  std::string kernel_args;  // raw, as the kernel reads them; each boot loader escapes them its own way
  std::vector<std::pair<std::string, std::string>> module_options;  // for modprobe.d; none when built in
};

// A built-in ramoops never reads modprobe.d: its parameters go on the kernel
// command line, where a module's could go too but would only lengthen it.
RamoopsProposal propose_ramoops(const Sysroot& root, bool built_in) {
  RamoopsProposal p;
  std::string sizes = " pstore.kmsg_bytes=" + std::to_string(kRecordSize);
  auto address = pick_memmap_address(root);
  if (!address)
    throw Error("cannot find a RAM range for ramoops in /proc/iomem (run as root, which sees the addresses)");
  p.kernel_args = "memmap=" + std::to_string(kRegionSize >> 20) + "M$" + hex(*address) + sizes;
  p.module_options.emplace_back("mem_address", hex(*address));
  p.module_options.emplace_back("mem_size", std::to_string(kRegionSize));
  p.module_options.emplace_back("record_size", std::to_string(kRecordSize));
  p.module_options.emplace_back("console_size", std::to_string(kConsoleSize));
  if (built_in) {
    for (const auto& [param, value] : p.module_options) p.kernel_args += " ramoops." + param + "=" + value;
    p.module_options.clear();
  }
  return p;
}

// Returns where the kernel arguments went and what the user must still do.
std::string persist_ramoops(Sysroot& root, State& state, const BootLoader& loader, const RamoopsProposal& p) {
  std::string next = add_kernel_args(root, state, loader, p.kernel_args);
  if (p.module_options.empty()) return next;
  // ramoops is a module on Debian: the kernel arguments alone load nothing.
  write_owned_file(root, state, kRamoopsModprobeFile,
                   "# Written by lastgasp-setup: where ramoops keeps its records.\n" +
                       modprobe_options("ramoops", p.module_options));
  write_owned_file(root, state, kRamoopsModulesLoadFile, "# Written by lastgasp-setup.\nramoops\n");
  return next;
}

nlohmann::json ensure_collection(Context& ctx, State& state, const PstoreStatus& status, bool apply) {
  Sysroot& root = ctx.root;
  nlohmann::json report = {{"systemd_pstore", status.systemd_pstore}, {"storage", status.storage},
                           {"enabled", status.systemd_pstore_enabled}};
  if (!status.systemd_pstore) {
    ctx.say("systemd-pstore is not installed: collect the records after a reboot with 'lastgasp-setup collect'.");
    return report;
  }
  if (status.collects()) {
    ctx.say("systemd-pstore collects the records after a reboot (Storage=external).");
    return report;
  }
  if (!apply) {
    ctx.say("systemd-pstore does not collect the records (Storage=" + status.storage +
            (status.systemd_pstore_enabled ? "" : ", not enabled") + "): run with --apply to fix that.");
    return report;
  }
  if (status.storage != "external")
    write_owned_file(root, state, kPstoreConfDropIn,
                     "# Written by lastgasp-setup: keep pstore records as files and free the backend.\n"
                     "[PStore]\nStorage=external\nUnlink=yes\n");
  if (!status.systemd_pstore_enabled) {
    state.files.insert(kPstoreWantsLink);
    root.make_symlink(status.systemd_pstore_unit, kPstoreWantsLink);
  }
  ctx.say("systemd-pstore now collects the records to /var/lib/systemd/pstore after a reboot.");
  return report;
}

// No backend: on x86, a ramoops region (written with --apply), where the
// kernel has ramoops; elsewhere, advice.
void propose_backend(Context& ctx, State& state, bool apply, nlohmann::json& report) {
  if (!is_x86()) {
    ctx.say("No pstore backend. On this architecture, describe a ramoops region in the device tree "
            "(reserved-memory, compatible = \"ramoops\").");
    return;
  }
  KernelSupport ramoops = module_support(ctx.root, KernelConfig(ctx.root), "ramoops", "CONFIG_PSTORE_RAM");
  report["ramoops"] = ramoops.evidence;
  if (ramoops.absent()) {
    std::string lacks = "this kernel has no ramoops: " + ramoops.evidence + "; " + kRamoopsKernelAdvice;
    if (apply) throw Error("cannot set up a ramoops region: " + lacks);
    ctx.say("No pstore backend, and " + lacks + ".");
    return;
  }
  if (ramoops.support == Support::kUnknown)
    ctx.warn("cannot tell whether this kernel has ramoops: " + ramoops.evidence);
  RamoopsProposal proposal = propose_ramoops(ctx.root, ramoops.built_in);
  BootLoader loader = detect_boot_loader(ctx.root);
  report["proposal"] = {{"kernel_args", proposal.kernel_args}, {"boot_loader", loader.name},
                        {"modprobe", proposal.module_options.empty()
                                         ? nlohmann::json(nullptr)
                                         : nlohmann::json(modprobe_options("ramoops", proposal.module_options))}};
  ctx.say("No pstore backend. Proposed ramoops region, as kernel arguments: " + proposal.kernel_args);
  if (!apply) {
    ctx.say("Run with --apply to add them to the boot loader's kernel command line (" +
            (loader.name.empty() ? std::string("none found") : loader.name) + ")" +
            (proposal.module_options.empty() ? "." : " and write the ramoops module options."));
    return;
  }
  std::string done = persist_ramoops(ctx.root, state, loader, proposal);
  // With --dry-run the lines above say what would be written; "added" would be a lie.
  bool known = loader.kind != BootLoaderKind::kUnknown;
  ctx.say(ctx.root.dry_run() && known ? "Would add the kernel arguments for " + loader.name + "." : done);
  report["applied"] = true;
}

int run_pstore(Context& ctx, bool apply) {
  Sysroot& root = ctx.root;
  PstoreStatus status = probe_pstore(root);
  State state = load_state(root);
  nlohmann::json report = {{"backend", status.backend}, {"mounted", status.mounted},
                           {"records", status.records}, {"applied", false}};
  ctx.say("pstore backend: " + status.backend + (status.mounted ? ", mounted on /sys/fs/pstore" : ", not mounted"));
  if (!status.mounted && apply && root.live() && !root.dry_run() &&
      ::mount("pstore", "/sys/fs/pstore", "pstore", 0, nullptr) != 0)
    ctx.warn("cannot mount pstore on /sys/fs/pstore; add it to /etc/fstab");

  if (status.backend == "none") propose_backend(ctx, state, apply, report);
  report["collection"] = ensure_collection(ctx, state, status, apply);
  if (apply) save_state(root, state);
  if (ctx.json) ctx.print_json(report);
  return kExitOk;
}

}  // namespace

SubcommandRun define_pstore(CLI::App& command) {
  auto apply = std::make_shared<bool>(false);
  command.add_flag("--apply", *apply, "write the ramoops region and the collection settings");
  return [apply](Context& ctx) { return run_pstore(ctx, *apply); };
}

}  // namespace lastgasp::setup
