// The netconsole target writer: probe which attributes the running kernel has,
// then disable, write, enable, and read back. Every change goes through the
// Sysroot, whose undo log restores the target if anything fails on the way
// (the caller rolls back), and whose journal shows the order of the writes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

inline constexpr const char* kNetconsoleConfigfs = "/sys/kernel/config/netconsole";

// Optional attributes, found by looking for their files (never by kernel version).
struct TargetFeatures {
  bool release = false;          // v6.6
  bool userdata = false;         // v6.9
  bool transmit_errors = false;  // ≈6.14
  std::vector<std::string> sysdata_flags;  // present ones of userdata/{msgid,cpu_nr,taskname}_enabled
};

struct TargetRequest {
  std::string dev_name;
  std::string local_ip;
  std::string remote_ip;
  std::string remote_mac;
  std::uint16_t local_port = 6665;
  std::uint16_t remote_port = 6666;
  bool extended = true;
  std::string hostname;  // sent as userdata host=
};

// (attribute path relative to the target directory, value), in write order.
using Attributes = std::vector<std::pair<std::string, std::string>>;

struct AttributeChange {
  std::string attribute;
  std::string before;
  std::string after;
};

struct ApplyResult {
  bool created = false;
  std::vector<AttributeChange> changes;  // empty with !created: nothing was written
  TargetFeatures features;
  std::optional<std::string> transmit_errors;
};

std::vector<std::string> list_targets(const Sysroot& root);
TargetFeatures probe_target_features(const Sysroot& root, const std::string& target_dir);
Attributes desired_attributes(const TargetRequest& request, const TargetFeatures& features);
// Whether two values of ATTRIBUTE mean the same (IPv6 spellings, MAC case, newlines).
bool same_value(const std::string& attribute, const std::string& a, const std::string& b);

// Serialises the processes that write targets (apply at boot, watch, an
// administrator's netconsole or remove): an flock(2) on the netconsole directory
// in configfs, so that one's disable-write-enable never interleaves with
// another's. Takes nothing on a dry run, or before the directory exists.
class TargetsLock {
 public:
  explicit TargetsLock(const Sysroot& root);
  ~TargetsLock();
  TargetsLock(const TargetsLock&) = delete;
  TargetsLock& operator=(const TargetsLock&) = delete;

 private:
  int fd_ = -1;
};

class NetconsoleTarget {
 public:
  NetconsoleTarget(Sysroot& root, std::string name);

  const std::string& name() const { return name_; }
  std::string dir() const;
  bool exists() const;
  bool enabled() const;
  std::optional<std::string> read(const std::string& attribute) const;

  // Creates the target if needed and brings it to REQUEST. Throws Error; the
  // caller's Sysroot::rollback() then restores what was there before.
  ApplyResult apply(const TargetRequest& request);
  // Disables the target and removes it with its userdata entries.
  void remove();

 private:
  void write(const std::string& attribute, const std::string& value);
  void read_back(const Attributes& desired) const;

  Sysroot& root_;
  std::string name_;
};

}  // namespace lastgasp::setup
