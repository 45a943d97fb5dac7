// A temporary tree that mimics the parts of /proc, /sys (with configfs) and
// /etc that lastgasp-setup reads and writes, for --root. The kernel's part (a
// mkdir in configfs makes the attribute files appear) is played by a hook on
// the Sysroot, with the optional attributes of the kernel being modelled.
#pragma once

#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "context.hpp"
#include "sysroot/sysroot.hpp"

namespace lastgasp::setup::testing {

// Which optional configfs attributes the modelled kernel has.
struct KernelModel {
  bool release = false;          // v6.6
  bool userdata = false;         // v6.9
  bool sysdata = false;          // ≈6.15/6.17: cpu_nr, taskname, msgid
  bool transmit_errors = false;  // ≈6.14
};

inline KernelModel kernel_6_1() { return {}; }
inline KernelModel kernel_newest() { return {true, true, true, true}; }

class FakeTree {
 public:
  explicit FakeTree(KernelModel model = kernel_6_1());
  ~FakeTree();
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path path(const std::string& system_path) const;
  void write(const std::string& system_path, const std::string& content) const;
  std::string read(const std::string& system_path) const;  // "" when absent
  bool exists(const std::string& system_path) const;

  // What the kernel does on mkdir in configfs: create the target's attributes.
  void populate_target(const std::filesystem::path& host_dir) const;
  // A target that already exists, as another tool (or the kernel) left it.
  void add_target(const std::string& name, const std::map<std::string, std::string>& values) const;
  // Connects a Sysroot on this tree to the kernel model.
  void attach(Sysroot& root) const;

  // Every file and link under the root, path -> content (or "-> target").
  std::map<std::string, std::string> snapshot() const;

 private:
  std::filesystem::path root_;
  KernelModel model_;
};

inline constexpr const char* kTargetDir = "/sys/kernel/config/netconsole/";
// The fake kernel's release: /lib/modules/<it> and /boot/config-<it> are its build.
inline constexpr const char* kFakeRelease = "6.1.0-lastgasp-test";

// A Context on a fake tree, writing its words into strings.
struct FakeContext {
  explicit FakeContext(const FakeTree& tree, bool dry_run = false)
      : sysroot(tree.root(), dry_run, out), ctx{sysroot, false, out, err} {
    tree.attach(sysroot);
  }
  std::ostringstream out, err;
  Sysroot sysroot;
  Context ctx;
};

}  // namespace lastgasp::setup::testing
