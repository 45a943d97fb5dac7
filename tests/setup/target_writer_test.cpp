// The configfs writer against a fake tree: every attribute written, the order of
// disable, write and enable, idempotence, and roll back on failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "configfs/netconsole_target.hpp"
#include "error.hpp"
#include "fake_tree.hpp"

namespace lastgasp::setup {
namespace {

using testing::FakeContext;
using testing::FakeTree;

TargetRequest request_v4() {
  return {.dev_name = "eth1",
          .local_ip = "10.0.0.2",
          .remote_ip = "10.0.0.1",
          .remote_mac = "AA:BB:CC:00:11:22",
          .local_port = 6665,
          .remote_port = 6666,
          .extended = true,
          .hostname = "sender-1"};
}

const std::string kDir = "/sys/kernel/config/netconsole/lastgasp";

// Index of the first journal entry matching ACTION on PATH (with VALUE if given).
long position(const Sysroot& root, const std::string& action, const std::string& path,
              const std::string& value = "*") {
  const auto& j = root.journal();
  auto it = std::find_if(j.begin(), j.end(), [&](const Operation& op) {
    return op.action == action && op.path == path && (value == "*" || op.value == value);
  });
  return it == j.end() ? -1 : it - j.begin();
}

TEST(TargetWriter, NewTargetOnOldKernelWritesBaseAttributesThenEnables) {
  FakeTree tree;
  FakeContext f(tree);
  NetconsoleTarget target(f.sysroot, "lastgasp");
  ApplyResult result = target.apply(request_v4());

  EXPECT_TRUE(result.created);
  EXPECT_FALSE(result.features.release);
  EXPECT_EQ(tree.read(kDir + "/dev_name"), "eth1\n");
  EXPECT_EQ(tree.read(kDir + "/local_ip"), "10.0.0.2\n");
  EXPECT_EQ(tree.read(kDir + "/remote_ip"), "10.0.0.1\n");
  EXPECT_EQ(tree.read(kDir + "/local_port"), "6665\n");
  EXPECT_EQ(tree.read(kDir + "/remote_port"), "6666\n");
  EXPECT_EQ(tree.read(kDir + "/remote_mac"), "aa:bb:cc:00:11:22\n");
  EXPECT_EQ(tree.read(kDir + "/extended"), "1\n");
  EXPECT_EQ(tree.read(kDir + "/enabled"), "1\n");
  EXPECT_FALSE(tree.exists(kDir + "/release"));
  EXPECT_FALSE(tree.exists(kDir + "/userdata"));

  const auto& j = f.sysroot.journal();
  EXPECT_EQ(j.front(), (Operation{"mkdir", kDir, ""}));
  EXPECT_EQ(j.back(), (Operation{"write", kDir + "/enabled", "1"}));
  // A fresh target is disabled: there is nothing to disable first.
  EXPECT_EQ(position(f.sysroot, "write", kDir + "/enabled", "0"), -1);
}

TEST(TargetWriter, NewestKernelGetsReleaseUserdataAndSysdataFlags) {
  FakeTree tree(testing::kernel_newest());
  FakeContext f(tree);
  NetconsoleTarget target(f.sysroot, "lastgasp");
  ApplyResult result = target.apply(request_v4());

  EXPECT_TRUE(result.features.release && result.features.userdata && result.features.transmit_errors);
  EXPECT_EQ(tree.read(kDir + "/release"), "1\n");
  EXPECT_EQ(tree.read(kDir + "/userdata/host/value"), "sender-1\n");
  EXPECT_EQ(tree.read(kDir + "/userdata/msgid_enabled"), "1\n");
  EXPECT_EQ(tree.read(kDir + "/userdata/cpu_nr_enabled"), "1\n");
  EXPECT_EQ(tree.read(kDir + "/userdata/taskname_enabled"), "1\n");
  // The sysdata release line would repeat what `release` already prepends.
  EXPECT_EQ(tree.read(kDir + "/userdata/release_enabled"), "0\n");
  ASSERT_TRUE(result.transmit_errors);
  EXPECT_EQ(*result.transmit_errors, "0");
  // extended is written before release: the kernel refuses release without it.
  EXPECT_LT(position(f.sysroot, "write", kDir + "/extended"), position(f.sysroot, "write", kDir + "/release"));
  EXPECT_LT(position(f.sysroot, "mkdir", kDir + "/userdata/host"),
            position(f.sysroot, "write", kDir + "/userdata/host/value"));
  EXPECT_EQ(f.sysroot.journal().back(), (Operation{"write", kDir + "/enabled", "1"}));
}

TEST(TargetWriter, PlainFormatTurnsReleaseOffAndSkipsUserdata) {
  FakeTree tree(testing::kernel_newest());
  FakeContext f(tree);
  TargetRequest plain = request_v4();
  plain.extended = false;
  NetconsoleTarget(f.sysroot, "lastgasp").apply(plain);
  EXPECT_EQ(tree.read(kDir + "/extended"), "0\n");
  EXPECT_EQ(tree.read(kDir + "/release"), "0\n");
  EXPECT_FALSE(tree.exists(kDir + "/userdata/host"));
  EXPECT_EQ(tree.read(kDir + "/userdata/msgid_enabled"), "0\n");
}

TEST(TargetWriter, UpdatingAnEnabledTargetDisablesWritesOnlyChangesThenEnables) {
  FakeTree tree;
  tree.add_target("lastgasp", {{"enabled", "1"}, {"dev_name", "eth1"}, {"local_ip", "10.0.0.2"},
                               {"remote_ip", "10.0.0.1"}, {"remote_mac", "aa:bb:cc:00:11:99"}, {"extended", "1"}});
  FakeContext f(tree);
  ApplyResult result = NetconsoleTarget(f.sysroot, "lastgasp").apply(request_v4());

  EXPECT_FALSE(result.created);
  ASSERT_EQ(result.changes.size(), 1u);
  EXPECT_EQ(result.changes[0].attribute, "remote_mac");
  EXPECT_EQ(result.changes[0].before, "aa:bb:cc:00:11:99");
  std::vector<Operation> expected = {
      {"write", kDir + "/enabled", "0"},
      {"write", kDir + "/remote_mac", "aa:bb:cc:00:11:22"},
      {"write", kDir + "/enabled", "1"},
  };
  EXPECT_EQ(f.sysroot.journal(), expected);
  EXPECT_EQ(tree.read(kDir + "/remote_mac"), "aa:bb:cc:00:11:22\n");
}

TEST(TargetWriter, SecondApplyChangesNothing) {
  FakeTree tree(testing::kernel_newest());
  {
    FakeContext first(tree);
    NetconsoleTarget(first.sysroot, "lastgasp").apply(request_v4());
  }
  auto before = tree.snapshot();
  FakeContext second(tree);
  ApplyResult result = NetconsoleTarget(second.sysroot, "lastgasp").apply(request_v4());
  EXPECT_FALSE(result.created);
  EXPECT_TRUE(result.changes.empty());
  EXPECT_TRUE(second.sysroot.journal().empty());
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(TargetWriter, SameIpv6AddressInAnotherSpellingIsNoChange) {
  EXPECT_TRUE(same_value("remote_ip", "fd00:0:0::1\n", "fd00::1"));
  EXPECT_TRUE(same_value("remote_mac", "AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff\n"));
  EXPECT_FALSE(same_value("remote_ip", "fd00::1", "fd00::2"));
}

TEST(TargetWriter, FailureHalfwayRestoresTheExistingTarget) {
  FakeTree tree;
  tree.add_target("lastgasp", {{"enabled", "1"}, {"dev_name", "eth0"}, {"remote_ip", "10.9.9.9"}});
  // A write to remote_mac fails, as the kernel's EINVAL would.
  std::filesystem::remove(tree.path(kDir + "/remote_mac"));
  std::filesystem::create_directory(tree.path(kDir + "/remote_mac"));
  auto before = tree.snapshot();

  FakeContext f(tree);
  EXPECT_THROW(NetconsoleTarget(f.sysroot, "lastgasp").apply(request_v4()), Error);
  EXPECT_TRUE(f.sysroot.rollback().failures.empty());
  EXPECT_EQ(tree.snapshot(), before);
  EXPECT_EQ(tree.read(kDir + "/enabled"), "1\n");
}

TEST(TargetWriter, FailureOnANewTargetLeavesNoTargetBehind) {
  FakeTree tree;
  FakeContext f(tree);
  // The kernel refuses to enable (netpoll setup failed): `enabled` cannot be written.
  f.sysroot.after_mkdir = [&tree](const std::filesystem::path& dir) {
    tree.populate_target(dir);
    std::filesystem::remove(dir / "enabled");
    std::filesystem::create_directory(dir / "enabled");
  };
  try {
    NetconsoleTarget(f.sysroot, "lastgasp").apply(request_v4());
    FAIL() << "enable should have failed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dmesg"), std::string::npos) << e.what();
  }
  f.sysroot.rollback();
  EXPECT_FALSE(tree.exists(kDir));
}

TEST(TargetWriter, ValueTheKernelDoesNotKeepFailsTheReadBack) {
  FakeTree tree;
  tree.add_target("lastgasp", {{"enabled", "0"}});
  // dev_name swallows writes and reads back empty, as a kernel that changed it would.
  std::filesystem::remove(tree.path(kDir + "/dev_name"));
  std::filesystem::create_symlink("/dev/null", tree.path(kDir + "/dev_name"));
  FakeContext f(tree);
  try {
    NetconsoleTarget(f.sysroot, "lastgasp").apply(request_v4());
    FAIL() << "the read-back should have failed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dev_name reads back"), std::string::npos) << e.what();
  }
  f.sysroot.rollback();
  EXPECT_EQ(tree.read(kDir + "/enabled"), "0\n");
  EXPECT_EQ(tree.read(kDir + "/remote_ip"), "0.0.0.0\n");
}

TEST(TargetWriter, RemoveDisablesThenRemovesUserdataKeysThenTheTarget) {
  FakeTree tree(testing::kernel_newest());
  FakeContext f(tree);
  NetconsoleTarget target(f.sysroot, "lastgasp");
  target.apply(request_v4());
  f.sysroot.commit();
  std::size_t start = f.sysroot.journal().size();
  target.remove();
  std::vector<Operation> removal(f.sysroot.journal().begin() + static_cast<long>(start), f.sysroot.journal().end());
  std::vector<Operation> expected = {
      {"write", kDir + "/enabled", "0"},
      {"rmdir", kDir + "/userdata/host", ""},
      {"rmdir", kDir, ""},
  };
  EXPECT_EQ(removal, expected);
  EXPECT_FALSE(tree.exists(kDir));
}

TEST(TargetWriter, DryRunOfANewTargetLearnsTheKernelsAttributesFromAnotherTarget) {
  FakeTree tree(testing::kernel_newest());
  tree.add_target("theirs", {{"enabled", "1"}, {"remote_ip", "10.9.9.9"}});
  auto before = tree.snapshot();
  FakeContext f(tree, /*dry_run=*/true);
  ApplyResult result = NetconsoleTarget(f.sysroot, "lastgasp").apply(request_v4());
  EXPECT_TRUE(result.created);
  EXPECT_TRUE(result.features.release);
  EXPECT_NE(f.out.str().find("would write " + kDir + "/release: 1"), std::string::npos) << f.out.str();
  EXPECT_NE(f.out.str().find("would write " + kDir + "/userdata/msgid_enabled: 1"), std::string::npos);
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(TargetWriter, DryRunPrintsTheWritesAndChangesNothing) {
  FakeTree tree(testing::kernel_newest());
  tree.add_target("lastgasp", {{"enabled", "1"}});
  auto before = tree.snapshot();
  FakeContext f(tree, /*dry_run=*/true);
  NetconsoleTarget(f.sysroot, "lastgasp").apply(request_v4());
  EXPECT_EQ(tree.snapshot(), before);
  std::string printed = f.out.str();
  EXPECT_NE(printed.find("would write " + kDir + "/enabled: 0"), std::string::npos) << printed;
  EXPECT_NE(printed.find("would write " + kDir + "/remote_mac: aa:bb:cc:00:11:22"), std::string::npos);
  EXPECT_NE(printed.find("would write " + kDir + "/enabled: 1"), std::string::npos);
}

}  // namespace
}  // namespace lastgasp::setup
