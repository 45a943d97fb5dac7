// What the running kernel was built with, read from fake trees as from a host:
// /sys/module, /proc/filesystems, /lib/modules/RELEASE (modules.builtin,
// modules.dep, the module file), /proc/config.gz and /boot/config-RELEASE.
// A kernel without netconsole, configfs or ramoops is said to be so, never
// offered a modprobe or a region that cannot work; and the boot loader that
// takes the ramoops region is the one the tree has (GRUB, systemd-boot's
// /etc/kernel/cmdline, grubby). Also the boot unit's bounded retry of `apply`,
// with its messages in the kernel log.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "fake_tree.hpp"
#include "sysroot/kernel_features.hpp"
#include "tool_runner.hpp"

namespace lastgasp::setup {
namespace {

using testing::FakeTree;
using testing::kFakeRelease;
using testing::run_tool;
using testing::ToolResult;

const std::string kModules = std::string("/lib/modules/") + kFakeRelease;
const std::string kBootConfig = std::string("/boot/config-") + kFakeRelease;

std::vector<std::string> on(const FakeTree& tree, std::vector<std::string> args) {
  args.insert(args.begin(), {"--root", tree.root().string()});
  return args;
}

nlohmann::json item(const nlohmann::json& report, const std::string& id) {
  for (const auto& i : report["items"])
    if (i["id"] == id) return i;
  ADD_FAILURE() << "no item " << id << " in " << report.dump(2);
  return nlohmann::json::object();
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

void write_gzip(const std::filesystem::path& file, const std::string& content) {
  std::filesystem::create_directories(file.parent_path());
  gzFile out = gzopen(file.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(gzwrite(out, content.data(), static_cast<unsigned>(content.size())), static_cast<int>(content.size()));
  gzclose(out);
}

// A host whose netconsole is not loaded: no /sys/module/netconsole, no configfs directory.
struct UnloadedNetconsole : ::testing::Test {
  FakeTree tree;
  void SetUp() override {
    std::filesystem::remove_all(tree.path("/sys/module/netconsole"));
    std::filesystem::remove_all(tree.path("/sys/kernel/config/netconsole"));
  }
  nlohmann::json check() {
    ToolResult r = run_tool(on(tree, {"--json", "check"}));
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    return nlohmann::json::parse(r.out);
  }
  // `netconsole` fails at once, with the same sentence, changing nothing; in dry-run too.
  void expect_netconsole_refused(const std::string& sentence) {
    auto before = tree.snapshot();
    for (bool dry_run : {true, false}) {
      std::vector<std::string> args = {"netconsole", "--to", "10.0.0.1"};
      if (dry_run) args.insert(args.begin(), "--dry-run");
      ToolResult r = run_tool(on(tree, args));
      EXPECT_EQ(r.status, 2) << r.out << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_TRUE(contains(r.err, sentence)) << r.err;
      EXPECT_FALSE(contains(r.out, "would")) << r.out;
      EXPECT_EQ(tree.snapshot(), before);
    }
  }
};

TEST_F(UnloadedNetconsole, BootConfigWithoutNetconsoleIsSaidPlainlyAndNoModprobeIsOffered) {
  tree.write(kBootConfig, "CONFIG_CONFIGFS_FS=y\n# CONFIG_NETCONSOLE is not set\n");
  nlohmann::json report = check();
  EXPECT_FALSE(report["ready"]);
  nlohmann::json module = item(report, "netconsole.module");
  EXPECT_EQ(module["state"], "fail");
  EXPECT_EQ(module["value"], "this kernel has no netconsole: CONFIG_NETCONSOLE is not set in " + kBootConfig);
  EXPECT_FALSE(contains(module["fix"], "modprobe")) << module.dump();
  EXPECT_TRUE(contains(module["fix"], "CONFIG_NETCONSOLE=m")) << module.dump();
  EXPECT_FALSE(contains(item(report, "netconsole.configfs")["fix"], "modprobe"));

  expect_netconsole_refused("this kernel has no netconsole: CONFIG_NETCONSOLE is not set in " + kBootConfig);
}

TEST_F(UnloadedNetconsole, ModulesDirectoryListingNeitherBuiltinNorModuleMeansAbsent) {
  tree.write(kModules + "/modules.builtin", "kernel/fs/configfs/configfs.ko\n");
  tree.write(kModules + "/modules.dep", "kernel/drivers/net/bonding/bonding.ko.xz: kernel/net/tls/tls.ko.xz\n");
  expect_netconsole_refused("this kernel has no netconsole: neither modules.builtin nor modules.dep in " + kModules +
                            " lists netconsole");
}

TEST_F(UnloadedNetconsole, ModuleListedButItsFileMissingIsAbsentAndSaysWhy) {
  tree.write(kModules + "/modules.dep", "kernel/drivers/net/netconsole.ko.xz: kernel/fs/configfs/configfs.ko.xz\n");
  nlohmann::json module = item(check(), "netconsole.module");
  EXPECT_EQ(module["value"], "this kernel has no netconsole: " + kModules +
                                 "/modules.dep lists kernel/drivers/net/netconsole.ko.xz but the file is missing: "
                                 "reinstall this kernel's modules package");
}

TEST_F(UnloadedNetconsole, LoadableModuleIsOfferedToLoad) {
  tree.write(kModules + "/modules.dep", "kernel/drivers/net/netconsole.ko.xz: kernel/fs/configfs/configfs.ko.xz\n");
  tree.write(kModules + "/kernel/drivers/net/netconsole.ko.xz", "");
  tree.write(kBootConfig, "CONFIG_NETCONSOLE=m\nCONFIG_NETCONSOLE_DYNAMIC=y\nCONFIG_CONFIGFS_FS=m\n");
  nlohmann::json report = check();
  EXPECT_EQ(item(report, "netconsole.module")["value"], "not loaded");
  EXPECT_TRUE(contains(item(report, "netconsole.module")["fix"], "modprobe netconsole"));
}

TEST_F(UnloadedNetconsole, KernelWithoutConfigfsIsNotAskedToMountIt) {
  tree.write("/proc/mounts", "sysfs /sys sysfs rw 0 0\n");
  tree.write("/proc/filesystems", "nodev\tsysfs\nnodev\tproc\n\text4\n");
  tree.write(kModules + "/modules.builtin", "kernel/fs/ext4/ext4.ko\n");
  tree.write(kModules + "/modules.dep", "kernel/drivers/net/netconsole.ko:\n");
  tree.write(kModules + "/kernel/drivers/net/netconsole.ko", "");
  tree.write(kBootConfig, "CONFIG_NETCONSOLE=m\n# CONFIG_CONFIGFS_FS is not set\n");
  nlohmann::json configfs = item(check(), "netconsole.configfs");
  EXPECT_EQ(configfs["state"], "fail");
  EXPECT_EQ(configfs["value"], "this kernel has no configfs: CONFIG_CONFIGFS_FS is not set in " + kBootConfig);
  EXPECT_FALSE(contains(configfs["fix"], "mount")) << configfs.dump();

  expect_netconsole_refused("this kernel has no configfs, where netconsole targets live: CONFIG_CONFIGFS_FS is not set");
}

TEST_F(UnloadedNetconsole, ProcConfigGzWithoutDynamicTargetsIsRead) {
  write_gzip(tree.path("/proc/config.gz"),
             "CONFIG_CONFIGFS_FS=y\nCONFIG_NETCONSOLE=y\n# CONFIG_NETCONSOLE_DYNAMIC is not set\n");
  // The running kernel's own config wins over a stale file in /boot.
  tree.write(kBootConfig, "CONFIG_NETCONSOLE=m\nCONFIG_NETCONSOLE_DYNAMIC=y\n");
  nlohmann::json configfs = item(check(), "netconsole.configfs");
  EXPECT_EQ(configfs["value"],
            "this kernel's netconsole has no configfs targets: CONFIG_NETCONSOLE_DYNAMIC is not set in /proc/config.gz");
  expect_netconsole_refused("CONFIG_NETCONSOLE_DYNAMIC is not set in /proc/config.gz");
}

TEST_F(UnloadedNetconsole, NothingToTellFromKeepsTheOldAdvice) {
  nlohmann::json module = item(check(), "netconsole.module");
  EXPECT_EQ(module["value"], "not loaded");
}

TEST(KernelFeatures, BuiltinModulesAreToldApartFromLoadableOnes) {
  FakeTree tree;
  std::ostringstream out;
  Sysroot root(tree.root(), false, out);
  tree.write(kModules + "/modules.builtin", "kernel/fs/pstore/ramoops.ko\n");
  KernelConfig none(root);
  EXPECT_FALSE(none.found());
  KernelSupport ramoops = module_support(root, none, "ramoops", "CONFIG_PSTORE_RAM");
  EXPECT_EQ(ramoops.support, Support::kPresent);
  EXPECT_TRUE(ramoops.built_in);
  // Loaded modules have initstate; the fake tree's netconsole is one.
  KernelSupport netconsole = module_support(root, none, "netconsole", "CONFIG_NETCONSOLE");
  EXPECT_EQ(netconsole.evidence, "loaded");
  EXPECT_FALSE(netconsole.built_in);
  // "CONFIG_NETCONSOLE_EXTENDED_LOG" must not be read as CONFIG_NETCONSOLE.
  tree.write(kBootConfig, "CONFIG_NETCONSOLE_EXTENDED_LOG=y\n");
  EXPECT_EQ(KernelConfig(root).value("CONFIG_NETCONSOLE"), "n");
}

}  // namespace
}  // namespace lastgasp::setup
