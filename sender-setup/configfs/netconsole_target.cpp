#include "netconsole_target.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "error.hpp"

namespace lastgasp::setup {

namespace {

// release_enabled is left out: `release` already prepends the release, and on
// v7.0 that flag's read-back shows the taskname bit, so it could never verify.
constexpr const char* kSysdataFlags[] = {"msgid_enabled", "cpu_nr_enabled", "taskname_enabled"};

std::string normalized_ip(const std::string& text) {
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, text.c_str(), bytes) == 1 && inet_ntop(family, bytes, out, sizeof out)) return out;
  }
  return text;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

std::vector<std::string> list_targets(const Sysroot& root) {
  std::vector<std::string> targets;
  for (const std::string& name : root.list_dir(kNetconsoleConfigfs)) {
    if (root.is_dir(std::string(kNetconsoleConfigfs) + "/" + name)) targets.push_back(name);
  }
  return targets;
}

TargetFeatures probe_target_features(const Sysroot& root, const std::string& dir) {
  TargetFeatures features;
  features.release = root.exists(dir + "/release");
  features.userdata = root.is_dir(dir + "/userdata");
  features.transmit_errors = root.exists(dir + "/transmit_errors");
  for (const char* flag : kSysdataFlags) {
    if (root.exists(dir + "/userdata/" + flag)) features.sysdata_flags.push_back(flag);
  }
  return features;
}

Attributes desired_attributes(const TargetRequest& request, const TargetFeatures& features) {
  Attributes attrs = {
      {"dev_name", request.dev_name},
      {"local_ip", request.local_ip},
      {"remote_ip", request.remote_ip},
      {"local_port", std::to_string(request.local_port)},
      {"remote_port", std::to_string(request.remote_port)},
      {"remote_mac", lowercase(request.remote_mac)},
      {"extended", request.extended ? "1" : "0"},
  };
  // The kernel refuses to enable a target with release but without extended.
  if (features.release) attrs.emplace_back("release", request.extended ? "1" : "0");
  if (!request.extended) return attrs;
  if (features.userdata && !request.hostname.empty())
    attrs.emplace_back("userdata/host/value", request.hostname);
  for (const std::string& flag : features.sysdata_flags) attrs.emplace_back("userdata/" + flag, "1");
  return attrs;
}

bool same_value(const std::string& attribute, const std::string& a, const std::string& b) {
  std::string x = trim(a), y = trim(b);
  if (attribute == "local_ip" || attribute == "remote_ip") return normalized_ip(x) == normalized_ip(y);
  if (attribute == "remote_mac") return lowercase(x) == lowercase(y);
  return x == y;
}

NetconsoleTarget::NetconsoleTarget(Sysroot& root, std::string name) : root_(root), name_(std::move(name)) {}

std::string NetconsoleTarget::dir() const { return std::string(kNetconsoleConfigfs) + "/" + name_; }

bool NetconsoleTarget::exists() const { return root_.is_dir(dir()); }

bool NetconsoleTarget::enabled() const { return read("enabled").value_or("0") == "1"; }

std::optional<std::string> NetconsoleTarget::read(const std::string& attribute) const {
  return root_.read_trimmed(dir() + "/" + attribute);
}

void NetconsoleTarget::write(const std::string& attribute, const std::string& value) {
  try {
    root_.write(dir() + "/" + attribute, value);
  } catch (const SysrootError& e) {
    std::string advice = attribute == "enabled" && value == "1"
                             ? ": the kernel's netpoll setup failed; 'dmesg | grep -i netconsole' says why"
                             : ": the kernel rejected the value";
    throw Error("netconsole target '" + name_ + "': " + e.what() + advice);
  }
}

TargetsLock::TargetsLock(const Sysroot& root) {
  if (root.dry_run()) return;
  fd_ = ::open(root.host_path(kNetconsoleConfigfs).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) return;
  while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {}
}

TargetsLock::~TargetsLock() {
  if (fd_ >= 0) ::close(fd_);
}

ApplyResult NetconsoleTarget::apply(const TargetRequest& request) {
  ApplyResult result;
  result.created = !exists();
  if (result.created) root_.make_dir(dir());
  result.features = probe_target_features(root_, dir());
  // A dry run creates nothing to probe: any other target shows the same kernel's attributes.
  std::vector<std::string> others = result.created && root_.dry_run() ? list_targets(root_) : std::vector<std::string>{};
  if (!others.empty())
    result.features = probe_target_features(root_, std::string(kNetconsoleConfigfs) + "/" + others.front());
  Attributes desired = desired_attributes(request, result.features);

  for (const auto& [attribute, value] : desired) {
    std::string current = read(attribute).value_or("");
    if (!same_value(attribute, current, value)) result.changes.push_back({attribute, current, value});
  }
  bool was_enabled = enabled();
  if (result.changes.empty() && was_enabled && !result.created) {
    if (result.features.transmit_errors) result.transmit_errors = read("transmit_errors");
    return result;
  }
  // Every attribute but `enabled` is read-only while the target is enabled.
  if (was_enabled) write("enabled", "0");
  for (const AttributeChange& change : result.changes) {
    if (change.attribute.starts_with("userdata/host/") && !root_.is_dir(dir() + "/userdata/host"))
      root_.make_dir(dir() + "/userdata/host");
    write(change.attribute, change.after);
  }
  write("enabled", "1");
  if (!root_.dry_run()) read_back(desired);
  if (result.features.transmit_errors) result.transmit_errors = read("transmit_errors");
  return result;
}

void NetconsoleTarget::read_back(const Attributes& desired) const {
  for (const auto& [attribute, value] : desired) {
    std::string actual = read(attribute).value_or("(unreadable)");
    if (!same_value(attribute, actual, value))
      throw Error("netconsole target '" + name_ + "': " + attribute + " reads back as '" + actual +
                  "' instead of '" + value + "'; the kernel changed it, so the target was restored");
  }
  if (!enabled())
    throw Error("netconsole target '" + name_ + "' did not stay enabled; 'dmesg | grep -i netconsole' says why");
}

void NetconsoleTarget::remove() {
  if (!exists()) return;
  if (enabled()) write("enabled", "0");
  // configfs removes an item only when its children are gone.
  std::string userdata = dir() + "/userdata";
  for (const std::string& key : root_.list_dir(userdata)) {
    if (root_.is_dir(userdata + "/" + key)) root_.remove_dir(userdata + "/" + key);
  }
  root_.remove_dir(dir());
}

}  // namespace lastgasp::setup
