#include "fake_tree.hpp"

#include <unistd.h>

#include <fstream>
#include <stdexcept>

namespace lastgasp::setup::testing {

namespace fs = std::filesystem;

namespace {

void put(const fs::path& file, const std::string& content) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
}

}  // namespace

FakeTree::FakeTree(KernelModel model) : model_(model) {
  std::string pattern = (fs::temp_directory_path() / "lastgasp-setup-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
  write("/proc/sys/kernel/printk", "4\t4\t1\t7\n");
  write("/proc/sys/kernel/panic", "0\n");
  write("/proc/sys/kernel/panic_on_oops", "0\n");
  write("/proc/sys/kernel/sysrq", "438\n");
  write("/proc/sys/kernel/hostname", "sender-1\n");
  write("/proc/sys/kernel/osrelease", std::string(kFakeRelease) + "\n");
  write("/proc/mounts",
        "sysfs /sys sysfs rw 0 0\nconfigfs /sys/kernel/config configfs rw 0 0\n"
        "pstore /sys/fs/pstore pstore rw 0 0\n");
  write("/sys/kernel/kexec_crash_loaded", "0\n");
  write("/sys/module/kernel/parameters/crash_kexec_post_notifiers", "N\n");
  write("/sys/module/netconsole/parameters/oops_only", "N\n");
  write("/sys/module/netconsole/initstate", "live\n");  // a module, as on Debian
  write("/sys/module/pstore/parameters/backend", "(null)\n");
  fs::create_directories(path("/sys/fs/pstore"));
  fs::create_directories(path("/sys/kernel/config/netconsole"));
  fs::create_directories(path("/etc"));
  fs::create_directories(path("/run"));
}

FakeTree::~FakeTree() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

fs::path FakeTree::path(const std::string& system_path) const { return root_ / fs::path(system_path).relative_path(); }

void FakeTree::write(const std::string& system_path, const std::string& content) const { put(path(system_path), content); }

std::string FakeTree::read(const std::string& system_path) const {
  std::ifstream in(path(system_path), std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

bool FakeTree::exists(const std::string& system_path) const {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path(system_path), ec));
}

void FakeTree::populate_target(const fs::path& dir) const {
  // The defaults of a fresh target in drivers/net/netconsole.c.
  std::map<std::string, std::string> attrs = {
      {"enabled", "0"},         {"extended", "0"},       {"dev_name", "eth0"},
      {"local_port", "6665"},   {"remote_port", "6666"}, {"local_ip", "0.0.0.0"},
      {"remote_ip", "0.0.0.0"}, {"local_mac", "ff:ff:ff:ff:ff:ff"}, {"remote_mac", "ff:ff:ff:ff:ff:ff"},
  };
  if (model_.release) attrs["release"] = "0";
  if (model_.transmit_errors) attrs["transmit_errors"] = "0";
  if (model_.sysdata)
    for (const char* flag : {"cpu_nr_enabled", "taskname_enabled", "release_enabled", "msgid_enabled"})
      attrs[std::string("userdata/") + flag] = "0";
  for (const auto& [name, value] : attrs) put(dir / name, value + "\n");
  if (model_.userdata) fs::create_directories(dir / "userdata");
}

void FakeTree::add_target(const std::string& name, const std::map<std::string, std::string>& values) const {
  fs::path dir = path(kTargetDir + name);
  fs::create_directories(dir);
  populate_target(dir);
  for (const auto& [attribute, value] : values) put(dir / attribute, value + "\n");
}

void FakeTree::attach(Sysroot& root) const {
  root.after_mkdir = [this](const fs::path& dir) {
    fs::path configfs = path("/sys/kernel/config/netconsole");
    if (dir.parent_path() == configfs) populate_target(dir);
    else if (dir.parent_path().filename() == "userdata") put(dir / "value", "\n");
  };
}

std::map<std::string, std::string> FakeTree::snapshot() const {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    std::string name = "/" + fs::relative(entry.path(), root_).string();
    if (entry.is_symlink()) files[name] = "-> " + fs::read_symlink(entry.path()).string();
    else if (entry.is_regular_file()) files[name] = read(name);
    else files[name + "/"] = "";
  }
  return files;
}

}  // namespace lastgasp::setup::testing
