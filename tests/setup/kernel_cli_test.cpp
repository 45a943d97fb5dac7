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

  expect_netconsole_refused(
      "this kernel has no configfs, where netconsole targets live: CONFIG_CONFIGFS_FS is not set");
}

TEST_F(UnloadedNetconsole, ProcConfigGzWithoutDynamicTargetsIsRead) {
  write_gzip(tree.path("/proc/config.gz"),
             "CONFIG_CONFIGFS_FS=y\nCONFIG_NETCONSOLE=y\n# CONFIG_NETCONSOLE_DYNAMIC is not set\n");
  // The running kernel's own config wins over a stale file in /boot.
  tree.write(kBootConfig, "CONFIG_NETCONSOLE=m\nCONFIG_NETCONSOLE_DYNAMIC=y\n");
  nlohmann::json configfs = item(check(), "netconsole.configfs");
  EXPECT_EQ(configfs["value"],
            "this kernel's netconsole has no configfs targets: CONFIG_NETCONSOLE_DYNAMIC is not set in "
            "/proc/config.gz");
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

// A host with no pstore backend and RAM to place a region in, as in cli_test.
struct RamoopsRegion : ::testing::Test {
  FakeTree tree;
  void SetUp() override {
    tree.write("/proc/iomem", "00001000-0009fbff : System RAM\n00100000-bfffffff : System RAM\n");
    tree.write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.1 root=/dev/vda1 ro initrd=/initrd.img quiet\n");
  }
  ToolResult pstore(std::vector<std::string> args) {
    args.insert(args.begin(), "pstore");
    return run_tool(on(tree, args));
  }
};

const std::string kRawArgs = "memmap=1M$0x60000000 pstore.kmsg_bytes=65536";

TEST_F(RamoopsRegion, KernelWithoutRamoopsGetsNoRegionAndApplyRefuses) {
  tree.write(kBootConfig, "CONFIG_PSTORE=y\n# CONFIG_PSTORE_RAM is not set\n");
  tree.write("/etc/default/grub", "GRUB_CMDLINE_LINUX=\"\"\n");
  auto before = tree.snapshot();
  ToolResult report = pstore({"--json"});
  EXPECT_EQ(report.status, 0) << report.err;
  nlohmann::json json = nlohmann::json::parse(report.out);
  EXPECT_FALSE(json.contains("proposal")) << json.dump();
  EXPECT_EQ(json["ramoops"], "CONFIG_PSTORE_RAM is not set in " + kBootConfig);
  EXPECT_TRUE(contains(pstore({}).out, "this kernel has no ramoops: CONFIG_PSTORE_RAM is not set in " + kBootConfig));

  ToolResult apply = pstore({"--apply"});
  EXPECT_EQ(apply.status, 2);
  EXPECT_TRUE(contains(apply.err, "cannot set up a ramoops region: this kernel has no ramoops")) << apply.err;
  EXPECT_EQ(tree.snapshot(), before);

  nlohmann::json check = nlohmann::json::parse(run_tool(on(tree, {"--json", "check"})).out);
  EXPECT_TRUE(contains(item(check, "pstore.backend")["fix"], "CONFIG_PSTORE_RAM")) << check.dump();
}

TEST_F(RamoopsRegion, ProposalIsPrintedRawAndOnlyGrubsFileIsEscaped) {
  tree.write("/etc/default/grub", "GRUB_CMDLINE_LINUX=\"\"\n");
  ToolResult shown = pstore({});
  EXPECT_TRUE(contains(shown.out, "as kernel arguments: " + kRawArgs + "\n")) << shown.out;
  EXPECT_TRUE(contains(shown.out, "(GRUB)")) << shown.out;
  ASSERT_EQ(pstore({"--apply"}).status, 0);
  EXPECT_TRUE(contains(tree.read("/etc/default/grub.d/lastgasp-pstore.cfg"),
                       "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX memmap=1M\\\\\\$0x60000000 "
                       "pstore.kmsg_bytes=65536\"\n"));
}

TEST_F(RamoopsRegion, SystemdBootsCmdlineGetsTheRawArgsAndRemovePutsItBack) {
  tree.write("/etc/kernel/cmdline", "root=UUID=1234 rw quiet\n");
  ToolResult r = pstore({"--apply"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "kernel-install add")) << r.out;
  EXPECT_EQ(tree.read("/etc/kernel/cmdline"), "root=UUID=1234 rw quiet " + kRawArgs + "\n");
  EXPECT_FALSE(tree.exists("/etc/default/grub.d/lastgasp-pstore.cfg"));
  ASSERT_EQ(pstore({"--apply"}).status, 0);
  EXPECT_EQ(tree.read("/etc/kernel/cmdline"), "root=UUID=1234 rw quiet " + kRawArgs + "\n")
      << "a second run adds nothing";

  ASSERT_EQ(run_tool(on(tree, {"remove"})).status, 0);
  EXPECT_EQ(tree.read("/etc/kernel/cmdline"), "root=UUID=1234 rw quiet\n");
}

TEST_F(RamoopsRegion, SystemdBootWithoutCmdlineFileStartsFromTheRunningOne) {
  tree.write("/boot/efi/loader/loader.conf", "timeout 3\n");
  ASSERT_EQ(pstore({"--apply"}).status, 0);
  EXPECT_EQ(tree.read("/etc/kernel/cmdline"), "root=/dev/vda1 ro quiet " + kRawArgs + "\n");
  ASSERT_EQ(run_tool(on(tree, {"remove"})).status, 0);
  EXPECT_FALSE(tree.exists("/etc/kernel/cmdline"));
}

TEST_F(RamoopsRegion, GrubbyIsRunOnlyOnTheLiveSystemAndDryRunShowsTheCommand) {
  tree.write("/usr/sbin/grubby", "#!/bin/sh\nexit 0\n");
  tree.write("/etc/default/grub", "GRUB_CMDLINE_LINUX=\"\"\n");  // Fedora has it too: grubby wins
  auto before = tree.snapshot();
  ToolResult dry = run_tool(on(tree, {"--dry-run", "pstore", "--apply"}));
  EXPECT_EQ(dry.status, 0) << dry.err;
  EXPECT_TRUE(contains(dry.out, "would run /usr/sbin/grubby --update-kernel=ALL "
                                "--args=memmap=1M\\$0x60000000 pstore.kmsg_bytes=65536\n"))
      << dry.out;
  EXPECT_TRUE(contains(dry.out, "Would add the kernel arguments for grubby.\n")) << dry.out;
  EXPECT_FALSE(contains(dry.out, "grubby added")) << dry.out;
  EXPECT_EQ(tree.snapshot(), before);

  ToolResult real = pstore({"--apply"});
  EXPECT_EQ(real.status, 2);
  EXPECT_TRUE(contains(real.err, "cannot run /usr/sbin/grubby under --root")) << real.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(RamoopsRegion, BuiltinRamoopsTakesItsParametersOnTheCommandLine) {
  tree.write(kModules + "/modules.builtin", "kernel/fs/pstore/ramoops.ko\n");
  tree.write("/etc/default/grub", "GRUB_CMDLINE_LINUX=\"\"\n");
  ToolResult r = pstore({"--json", "--apply"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["proposal"]["kernel_args"],
            kRawArgs + " ramoops.mem_address=0x60000000 ramoops.mem_size=1048576 ramoops.record_size=65536 "
                       "ramoops.console_size=262144");
  EXPECT_FALSE(tree.exists("/etc/modprobe.d/lastgasp-ramoops.conf"));
  EXPECT_FALSE(tree.exists("/etc/modules-load.d/lastgasp-ramoops.conf"));
}

TEST_F(RamoopsRegion, NoBootLoaderMeansArgumentsByHand) {
  ToolResult r = pstore({"--apply"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "No GRUB, systemd-boot or grubby found: add the kernel arguments to your boot loader "
                              "yourself, then reboot: " + kRawArgs))
      << r.out;
  EXPECT_TRUE(tree.exists("/etc/modprobe.d/lastgasp-ramoops.conf"));
}

// `apply` as the boot unit runs it, with a device that never appears: bounded,
// every failure in the kernel log.
struct BootRetry : ::testing::Test {
  FakeTree tree;
  void SetUp() override {
    tree.write("/etc/lastgasp/sender.toml", "[netconsole]\nto = \"10.0.0.1:6666\"\ndev = \"lgst-nosuch0\"\n");
    tree.write("/dev/kmsg", "");
  }
};

TEST_F(BootRetry, GivesUpWithinTheBoundAndLogsEachFailureToTheKernelLog) {
  auto start = std::chrono::steady_clock::now();
  ToolResult r = run_tool(on(tree, {"apply", "--retry-for", "2"}));
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_GE(elapsed, 1.9);
  EXPECT_LT(elapsed, 10.0);
  std::string kmsg = tree.read("/dev/kmsg");
  EXPECT_TRUE(contains(kmsg, "<4>lastgasp-setup: netconsole: attempt 1 failed, retrying in 1 s: unknown interface "
                             "'lgst-nosuch0'"))
      << kmsg;
  EXPECT_TRUE(contains(kmsg, "<4>lastgasp-setup: netconsole: attempt 2 failed, retrying in 1 s:")) << kmsg;
  EXPECT_TRUE(contains(kmsg, "<3>lastgasp-setup: netconsole stays off this boot: attempt 3 failed and the 2 s to "
                             "retry are over: unknown interface 'lgst-nosuch0'"))
      << kmsg;
  EXPECT_EQ(std::count(kmsg.begin(), kmsg.end(), '\n'), 3) << kmsg;
  EXPECT_TRUE(contains(r.err, "warning: netconsole: attempt 1 failed")) << r.err;
}

TEST_F(BootRetry, InteractiveApplyTriesOnceAndDryRunLeavesTheKernelLogAlone) {
  ToolResult once = run_tool(on(tree, {"apply"}));
  EXPECT_EQ(once.status, 2);
  EXPECT_EQ(tree.read("/dev/kmsg"), "");
  ToolResult dry = run_tool(on(tree, {"--dry-run", "apply", "--retry-for", "1"}));
  EXPECT_EQ(dry.status, 2);
  EXPECT_TRUE(contains(dry.err, "attempt 1 failed")) << dry.err;
  EXPECT_EQ(tree.read("/dev/kmsg"), "");
}

TEST_F(BootRetry, EveryTargetIsRetriedWithinOneBoundAndNamedInTheKernelLog) {
  tree.write("/etc/lastgasp/sender.toml",
             "[[netconsole]]\nname = \"first\"\nto = \"10.0.0.1:6666\"\ndev = \"lgst-nosuch0\"\n\n"
             "[[netconsole]]\nname = \"second\"\nto = \"10.0.0.2:6666\"\ndev = \"lgst-nosuch1\"\n");
  ToolResult r = run_tool(on(tree, {"--json", "apply", "--retry-for", "1"}));
  EXPECT_EQ(r.status, 2) << r.err;
  // One round of attempts for both, not one bound after the other: a receiver
  // that is away must not keep the next one waiting.
  std::string kmsg = tree.read("/dev/kmsg");
  const std::string both = "target 'first': unknown interface 'lgst-nosuch0': see 'ip link' for the names; "
                          "target 'second': unknown interface 'lgst-nosuch1'";
  EXPECT_TRUE(contains(kmsg, "<4>lastgasp-setup: netconsole: attempt 1 failed, retrying in 1 s: " + both)) << kmsg;
  EXPECT_TRUE(contains(kmsg, "<3>lastgasp-setup: netconsole stays off this boot: attempt 2 failed and the 1 s to retry "
                             "are over: " + both))
      << kmsg;
  EXPECT_EQ(std::count(kmsg.begin(), kmsg.end(), '\n'), 2) << kmsg;
  nlohmann::json report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["targets"].size(), 2u) << r.out;
  EXPECT_EQ(report["targets"][0]["target"], "first");
  EXPECT_TRUE(contains(report["targets"][0]["error"], "lgst-nosuch0")) << r.out;
  EXPECT_EQ(report["targets"][1]["target"], "second");
  EXPECT_TRUE(contains(report["targets"][1]["error"], "lgst-nosuch1")) << r.out;
}

// Kernel arguments grubby was given live in the state with the rest, and
// `remove` takes them away, or says why it could not.
struct GrubbyState : ::testing::Test {
  FakeTree tree;
  void SetUp() override {
    tree.write("/etc/lastgasp/state",
               "targets = []\nfiles = []\nboot_args = [ 'memmap=1M$0x60000000', 'pstore.kmsg_bytes=65536' ]\n\n"
               "[previous]\n\n[written]\n");
  }
};

TEST_F(GrubbyState, RemoveThatCannotRunGrubbyKeepsThemRecordedAndFails) {
  tree.write("/usr/sbin/grubby", "#!/bin/sh\nexit 0\n");
  ToolResult r = run_tool(on(tree, {"--json", "remove"}));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "could not remove the kernel arguments memmap=1M$0x60000000 pstore.kmsg_bytes=65536 "
                              "with grubby"))
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["failed"].size(), 1u) << r.out;
  std::string state = tree.read("/etc/lastgasp/state");
  EXPECT_TRUE(contains(state, "boot_args")) << state;
  EXPECT_TRUE(contains(state, "memmap=1M$0x60000000")) << state;
  EXPECT_FALSE(tree.exists("/run/lastgasp/state")) << "grubby's entries outlive a reboot, so does their record";
}

TEST_F(GrubbyState, RemoveWithGrubbyGoneWarnsAndForgetsThem) {
  ToolResult r = run_tool(on(tree, {"--json", "remove"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "grubby, which was given the kernel arguments memmap=1M$0x60000000 "
                              "pstore.kmsg_bytes=65536, is gone"))
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["left"][0]["kernel_args"], "memmap=1M$0x60000000 pstore.kmsg_bytes=65536")
      << r.out;
  EXPECT_FALSE(tree.exists("/etc/lastgasp/state"));
  EXPECT_FALSE(tree.exists("/run/lastgasp/state"));
}

// The live side of what grubby gets: run, journaled, and undone by its own command.
TEST(SysrootRun, RunsOnTheLiveSystemAndRollbackRunsTheUndoCommand) {
  FakeTree scratch;  // only a place for the log file
  std::string log = scratch.path("/run.log").string();
  std::ostringstream out;
  Sysroot live("/", false, out);
  live.run({"/bin/sh", "-c", "echo did >> " + log}, {"/bin/sh", "-c", "echo undid >> " + log});
  EXPECT_EQ(live.journal().back(), (Operation{"run", "/bin/sh", "-c echo did >> " + log}));
  RollbackResult undone = live.rollback();
  EXPECT_TRUE(undone.failures.empty());
  EXPECT_EQ(undone.undone, 1u);
  EXPECT_EQ(scratch.read("/run.log"), "did\nundid\n");

  EXPECT_THROW(live.run({"/bin/sh", "-c", "exit 3"}, {"/bin/true"}), SysrootError);
  RollbackResult nothing = live.rollback();
  EXPECT_EQ(nothing.undone, 0u) << "a command that failed has nothing to undo";
  EXPECT_TRUE(nothing.failures.empty());
}

}  // namespace
}  // namespace lastgasp::setup
