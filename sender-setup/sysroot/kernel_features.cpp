#include "kernel_features.hpp"

#include <zlib.h>

#include <sstream>

namespace lastgasp::setup {

namespace {

// The whole of a gzip file on the host, or "" when it cannot be read.
std::string read_gzip(const std::filesystem::path& file) {
  gzFile in = gzopen(file.c_str(), "rb");
  if (!in) return "";
  std::string text;
  char buf[16384];
  int n = 0;
  while ((n = gzread(in, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  bool failed = n < 0;
  gzclose(in);
  return failed ? "" : text;
}

// "kernel/drivers/net/netconsole.ko.xz" names the module "netconsole".
bool names_module(std::string_view path, std::string_view module) {
  std::string_view file = path.substr(path.find_last_of('/') + 1);
  std::string stem = std::string(module) + ".ko";
  return file.starts_with(stem) && (file.size() == stem.size() || file[stem.size()] == '.');
}

// The module's path relative to the modules directory, from the lines of
// modules.builtin ("kernel/fs/configfs/configfs.ko") or modules.dep
// ("kernel/drivers/net/netconsole.ko.xz: kernel/fs/configfs/configfs.ko.xz").
std::optional<std::string> find_module_line(const std::string& listing, std::string_view module) {
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    std::string path = trim(line.substr(0, line.find(':')));
    if (names_module(path, module)) return path;
  }
  return std::nullopt;
}

KernelSupport present(std::string evidence) { return {Support::kPresent, std::move(evidence), false}; }
KernelSupport built_in(std::string evidence) { return {Support::kPresent, std::move(evidence), true}; }
KernelSupport absent(std::string evidence) { return {Support::kAbsent, std::move(evidence), false}; }

}  // namespace

std::string kernel_release(const Sysroot& root) {
  return root.read_trimmed("/proc/sys/kernel/osrelease").value_or("");
}

KernelConfig::KernelConfig(const Sysroot& root) {
  text_ = read_gzip(root.host_path("/proc/config.gz"));
  if (!text_.empty()) {
    source_ = "/proc/config.gz";
    return;
  }
  std::string release = kernel_release(root);
  if (release.empty()) return;
  std::string boot_config = "/boot/config-" + release;
  if (auto text = root.read(boot_config); text && !text->empty()) {
    text_ = std::move(*text);
    source_ = boot_config;
  }
}

std::optional<std::string> KernelConfig::value(std::string_view symbol) const {
  if (!found()) return std::nullopt;
  std::istringstream lines(text_);
  std::string line, set = std::string(symbol) + "=", unset = "# " + std::string(symbol) + " is not set";
  while (std::getline(lines, line)) {
    if (line.starts_with(set)) return line.substr(set.size());
    if (line == unset) return "n";
  }
  return "n";  // not even offered: its dependencies are not built
}

KernelSupport module_support(const Sysroot& root, const KernelConfig& config, std::string_view module,
                             std::string_view symbol) {
  std::string sys_module = "/sys/module/" + std::string(module);
  // Only a loadable module has initstate; a built-in one with parameters shows there too.
  if (root.exists(sys_module + "/initstate")) return present("loaded");
  if (root.exists(sys_module)) return built_in("built in (" + sys_module + " without initstate)");
  std::string modules_dir = "/lib/modules/" + kernel_release(root);
  auto builtin = root.read(modules_dir + "/modules.builtin");
  auto dep = root.read(modules_dir + "/modules.dep");
  if (builtin && find_module_line(*builtin, module))
    return built_in("built in (" + modules_dir + "/modules.builtin)");
  if (dep) {
    if (auto file = find_module_line(*dep, module)) {
      std::string path = modules_dir + "/" + *file;
      if (root.exists(path)) return present("a module: " + path);
      return absent(modules_dir + "/modules.dep lists " + *file + " but the file is missing: reinstall this "
                    "kernel's modules package");
    }
  }
  std::string name(symbol);
  if (auto value = config.value(symbol)) {
    if (*value == "y") return built_in("built in (" + name + "=y in " + config.source() + ")");
    if (*value == "m")
      return absent(name + "=m in " + config.source() + ", but " + modules_dir + " has no " + std::string(module) +
                    " module: install this kernel's modules package");
    return absent(name + " is not set in " + config.source());
  }
  if (builtin && dep)
    return absent("neither modules.builtin nor modules.dep in " + modules_dir + " lists " + std::string(module));
  return {Support::kUnknown, "no " + modules_dir + " and no kernel config (/proc/config.gz, /boot/config-*) to tell",
          false};
}

KernelSupport filesystem_support(const Sysroot& root, const KernelConfig& config, std::string_view fstype,
                                 std::string_view module, std::string_view symbol) {
  std::istringstream filesystems(root.read("/proc/filesystems").value_or(""));
  std::string line;
  while (std::getline(filesystems, line)) {
    std::string name = trim(line.substr(line.find('\t') == std::string::npos ? 0 : line.find('\t') + 1));
    if (name == fstype) return present("registered (/proc/filesystems)");
  }
  return module_support(root, config, module, symbol);
}

NetconsoleSupport netconsole_support(const Sysroot& root) {
  KernelConfig config(root);
  NetconsoleSupport support;
  support.netconsole = module_support(root, config, "netconsole", "CONFIG_NETCONSOLE");
  support.configfs = filesystem_support(root, config, "configfs", "configfs", "CONFIG_CONFIGFS_FS");
  auto dynamic = config.value("CONFIG_NETCONSOLE_DYNAMIC");
  if (!dynamic) support.dynamic = {Support::kUnknown, "no kernel config to tell", false};
  else if (*dynamic == "y") support.dynamic = present("CONFIG_NETCONSOLE_DYNAMIC=y in " + config.source());
  else support.dynamic = absent("CONFIG_NETCONSOLE_DYNAMIC is not set in " + config.source());
  return support;
}

std::optional<std::string> NetconsoleSupport::missing() const {
  if (netconsole.absent()) return "this kernel has no netconsole: " + netconsole.evidence;
  if (configfs.absent()) return "this kernel has no configfs, where netconsole targets live: " + configfs.evidence;
  if (dynamic.absent()) return "this kernel's netconsole has no configfs targets: " + dynamic.evidence;
  return std::nullopt;
}

}  // namespace lastgasp::setup
