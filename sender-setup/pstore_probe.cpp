#include "pstore_probe.hpp"

#include <sstream>

#include "sysroot/kernel_settings.hpp"

namespace lastgasp::setup {

namespace {

std::string backend_kind(const std::string& registered) {
  if (registered.empty() || registered == "(null)") return "none";
  for (const char* kind : {"ramoops", "efi", "erst", "blk", "mtd"}) {
    if (registered.find(kind) != std::string::npos) return kind == std::string("mtd") ? "blk" : kind;
  }
  return registered;
}

std::optional<std::uint64_t> number_param(const Sysroot& root, const char* param) {
  auto text = read_module_param(root, "ramoops", param);
  if (!text) return std::nullopt;
  try {
    return std::stoull(*text, nullptr, 0);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The dmesg area is what is left after the console, ftrace and pmsg areas.
std::optional<unsigned> ramoops_dmesg_slots(const Sysroot& root) {
  auto mem = number_param(root, "mem_size");
  auto record = number_param(root, "record_size");
  if (!mem || !record || *record == 0) return std::nullopt;
  std::uint64_t others = number_param(root, "console_size").value_or(0) +
                         number_param(root, "ftrace_size").value_or(0) + number_param(root, "pmsg_size").value_or(0);
  return *mem > others ? static_cast<unsigned>((*mem - others) / *record) : 0u;
}

// Storage= from pstore.conf and its drop-ins, the last one winning, as systemd reads them.
std::string pstore_storage(const Sysroot& root) {
  std::vector<std::string> files = {"/etc/systemd/pstore.conf"};
  for (const std::string& name : root.list_dir("/etc/systemd/pstore.conf.d"))
    if (name.ends_with(".conf")) files.push_back("/etc/systemd/pstore.conf.d/" + name);
  std::string storage = "external";
  for (const std::string& file : files) {
    std::istringstream in(root.read(file).value_or(""));
    std::string line;
    while (std::getline(in, line)) {
      line = trim(line);
      if (line.starts_with("Storage=")) storage = trim(line.substr(8));
    }
  }
  return storage;
}

}  // namespace

unsigned PstoreStatus::dmesg_records() const {
  unsigned n = 0;
  for (const std::string& name : records) n += name.starts_with("dmesg-");
  return n;
}

PstoreStatus probe_pstore(const Sysroot& root) {
  PstoreStatus status;
  status.backend = backend_kind(read_module_param(root, "pstore", "backend").value_or(""));
  status.mounted = is_mounted(root, "/sys/fs/pstore", "pstore");
  if (status.mounted) status.records = root.list_dir("/sys/fs/pstore");
  if (status.backend == "ramoops") status.ramoops_dmesg_slots = ramoops_dmesg_slots(root);
  for (const char* dir : {"/usr/lib/systemd/system", "/lib/systemd/system"}) {
    std::string unit = std::string(dir) + "/systemd-pstore.service";
    if (root.exists(unit)) {
      status.systemd_pstore = true;
      status.systemd_pstore_unit = unit;
      status.systemd_pstore_enabled =
          root.exists("/etc/systemd/system/sysinit.target.wants/systemd-pstore.service") ||
          root.exists(std::string(dir) + "/sysinit.target.wants/systemd-pstore.service");
      break;
    }
  }
  status.storage = pstore_storage(root);
  return status;
}

}  // namespace lastgasp::setup
