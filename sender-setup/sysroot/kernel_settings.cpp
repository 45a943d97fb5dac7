#include "kernel_settings.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

namespace lastgasp::setup {

std::string sysctl_path(std::string_view name) {
  std::string path = "/proc/sys/" + std::string(name);
  std::replace(path.begin() + 10, path.end(), '.', '/');
  return path;
}

std::optional<std::string> read_sysctl(const Sysroot& root, std::string_view name) {
  return root.read_trimmed(sysctl_path(name));
}

void write_sysctl(Sysroot& root, std::string_view name, std::string_view value) {
  root.write(sysctl_path(name), value);
}

std::string module_param_path(std::string_view module, std::string_view param) {
  return "/sys/module/" + std::string(module) + "/parameters/" + std::string(param);
}

std::optional<std::string> read_module_param(const Sysroot& root, std::string_view module,
                                             std::string_view param) {
  return root.read_trimmed(module_param_path(module, param));
}

std::optional<int> console_loglevel(const Sysroot& root) {
  auto printk = read_sysctl(root, "kernel.printk");
  if (!printk) return std::nullopt;
  std::istringstream fields(*printk);
  int level = 0;
  if (!(fields >> level)) return std::nullopt;
  return level;
}

std::optional<std::string> printk_with_console_loglevel(const Sysroot& root, int level) {
  auto printk = read_sysctl(root, "kernel.printk");
  if (!printk) return std::nullopt;
  std::istringstream in(*printk);
  std::string first, rest, field;
  if (!(in >> first)) return std::nullopt;
  while (in >> field) rest += "\t" + field;  // as the kernel prints it
  return std::to_string(level) + rest;
}

bool kdump_loaded(const Sysroot& root) {
  return root.read_trimmed("/sys/kernel/kexec_crash_loaded").value_or("0") == "1";
}

bool is_true(std::string_view value) { return value == "Y" || value == "1" || value == "y"; }

bool is_wireless(const Sysroot& root, const std::string& dev) {
  return root.exists("/sys/class/net/" + dev + "/wireless") || root.exists("/sys/class/net/" + dev + "/phy80211");
}

int write_kmsg(const Sysroot& root, int level, std::string_view line) {
  // One write(2) is one record; "<N>" sets its level.
  std::string record = "<" + std::to_string(level) + ">" + std::string(line) + "\n";
  int fd = ::open(root.host_path("/dev/kmsg").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t written = ::write(fd, record.data(), record.size());
  int error = written == static_cast<ssize_t>(record.size()) ? 0 : written < 0 ? errno : EIO;
  ::close(fd);
  return error;
}

bool is_mounted(const Sysroot& root, std::string_view mount_point, std::string_view type) {
  std::istringstream mounts(root.read("/proc/mounts").value_or(""));
  std::string device, where, fstype, rest;
  while (mounts >> device >> where >> fstype && std::getline(mounts, rest)) {
    if (where == mount_point && fstype == type) return true;
  }
  return false;
}

}  // namespace lastgasp::setup
