// `netconsole` after the path is resolved, on a fake tree: the target, the
// printk and panic knobs, persistence, the state, the boot option, duplicates,
// idempotence, the transaction, and `remove`.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "configfs/netconsole_target.hpp"
#include "error.hpp"
#include "fake_tree.hpp"
#include "netconsole.hpp"
#include "persistence.hpp"
#include "sender_config.hpp"
#include "state.hpp"
#include "subcommands.hpp"
#include "toml_reader.hpp"

namespace lastgasp::setup {
namespace {

using testing::FakeContext;
using testing::FakeTree;

const std::string kDir = "/sys/kernel/config/netconsole/";

config::SenderConfig config_to(const std::string& to) {
  config::SenderConfig config;
  config.netconsole.to = to;
  return config;
}

NetPath path_v4() {
  return {.receiver = "10.0.0.1", .device = "eth1", .source = "10.0.0.2", .gateway = std::nullopt,
          .next_hop = "10.0.0.1", .mac = "aa:bb:cc:00:11:22"};
}

nlohmann::json apply(const FakeTree& tree, const config::SenderConfig& config = config_to("10.0.0.1:6666"),
                     const NetPath& path = path_v4(), NetconsoleRun run = {}) {
  FakeContext f(tree);
  nlohmann::json report = apply_netconsole(config, path, run, f.ctx);
  f.sysroot.commit();
  return report;
}

// Runs `remove` with ARGS, as the command line would.
int remove(const FakeTree& tree, const std::string& args = "") {
  FakeContext f(tree);
  CLI::App app;
  SubcommandRun run = define_remove(app);
  app.parse(args, false);
  return run(f.ctx);
}

std::map<std::string, std::string> files_only(const std::map<std::string, std::string>& snapshot) {
  std::map<std::string, std::string> files;
  for (const auto& [path, content] : snapshot)
    if (!path.ends_with("/")) files[path] = content;
  return files;
}

TEST(NetconsoleApply, FirstRunWritesTargetKnobsAndPersistence) {
  FakeTree tree;
  nlohmann::json report = apply(tree);

  EXPECT_TRUE(report["changed"]);
  EXPECT_TRUE(report["created"]);
  EXPECT_EQ(report["target"], "lastgasp");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), "aa:bb:cc:00:11:22\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/enabled"), "1\n");
  // Console loglevel 8, the other three fields as they were.
  EXPECT_EQ(tree.read("/proc/sys/kernel/printk"), "8\t4\t1\t7\n");
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic"), "10\n");
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic_on_oops"), "1\n");
  // No kdump: post-notifiers left alone.
  EXPECT_EQ(tree.read("/sys/module/kernel/parameters/crash_kexec_post_notifiers"), "N\n");

  EXPECT_EQ(tree.read(kSysctlFile).substr(tree.read(kSysctlFile).find('\n') + 1),
            "kernel.printk = 8 4 1 7\nkernel.panic = 10\nkernel.panic_on_oops = 1\n");
  std::string unit = tree.read(kUnitFile);
  EXPECT_NE(unit.find("After=network-online.target"), std::string::npos);
  // Retries at boot without holding it up: in the unit's own process, as Type=exec.
  EXPECT_NE(unit.find("ExecStart=" + own_executable() + " apply --retry-for ${LASTGASP_RETRY_FOR}\n"),
            std::string::npos)
      << unit;
  EXPECT_NE(unit.find("\nType=exec\n"), std::string::npos) << unit;
  EXPECT_NE(unit.find("\nEnvironment=LASTGASP_RETRY_FOR=300\n"), std::string::npos) << unit;
  EXPECT_EQ(std::filesystem::read_symlink(tree.path(kUnitWantsLink)), kUnitFile);
  // The watch, after the boot unit that makes the targets it follows.
  std::string watch_unit = tree.read(kWatchUnitFile);
  EXPECT_NE(watch_unit.find("\nAfter=lastgasp-setup.service\n"), std::string::npos) << watch_unit;
  EXPECT_NE(watch_unit.find("\nExecStart=" + own_executable() + " watch\n"), std::string::npos) << watch_unit;
  EXPECT_EQ(std::filesystem::read_symlink(tree.path(kWatchUnitWantsLink)), kWatchUnitFile);

  config::SenderFile saved = config::load_sender_file(tree.path(kSenderConfigFile));
  ASSERT_EQ(saved.targets.size(), 1u);
  EXPECT_EQ(saved.targets[0].to, "10.0.0.1:6666");
  EXPECT_EQ(saved.targets[0].name, "lastgasp");
  EXPECT_FALSE(saved.targets[0].boot_option);
  EXPECT_EQ(saved.panic.timeout, 10);

  // 6.1 cannot adopt a boot-time target: the unit alone, and no module option.
  EXPECT_FALSE(report["boot_option"]);
  EXPECT_FALSE(tree.exists(kNetconsoleModprobeFile));

  FakeContext reader(tree);
  State state = load_state(reader.sysroot);
  EXPECT_EQ(state.targets, std::set<std::string>{"lastgasp"});
  EXPECT_EQ(state.previous.at("/proc/sys/kernel/panic"), "0");
  EXPECT_EQ(state.previous.at("/proc/sys/kernel/printk"), "4\t4\t1\t7");
  EXPECT_TRUE(state.files.contains(kSenderConfigFile));
  EXPECT_TRUE(state.files.contains(kUnitWantsLink));
  EXPECT_TRUE(state.files.contains(kWatchUnitWantsLink));
}

TEST(NetconsoleApply, EnablesThePackagedVendorUnitsAndDropsItsOwnCopies) {
  FakeTree tree;
  // A first run from a build tree wrote its own copy of each unit to /etc.
  apply(tree);
  ASSERT_TRUE(tree.exists(kUnitFile));
  // Then the lastgasp-setup package came, with the units in the vendor directory.
  const std::string vendor = "/usr/lib/systemd/system/";
  for (const char* name : {"lastgasp-setup.service", "lastgasp-watch.service", "lastgasp-collect.service"})
    tree.write(vendor + name, "[Unit]\n");
  apply(tree);

  EXPECT_FALSE(tree.exists(kUnitFile));
  EXPECT_FALSE(tree.exists(kWatchUnitFile));
  EXPECT_EQ(std::filesystem::read_symlink(tree.path(kUnitWantsLink)), vendor + "lastgasp-setup.service");
  EXPECT_EQ(std::filesystem::read_symlink(tree.path(kWatchUnitWantsLink)), vendor + "lastgasp-watch.service");
  FakeContext reader(tree);
  State state = load_state(reader.sysroot);
  EXPECT_FALSE(state.files.contains(kUnitFile));
  EXPECT_TRUE(state.files.contains(kUnitWantsLink));

  // remove takes the links back and leaves the package's units alone.
  EXPECT_EQ(remove(tree), 0);
  EXPECT_FALSE(tree.exists(kUnitWantsLink));
  EXPECT_FALSE(tree.exists(kWatchUnitWantsLink));
  EXPECT_TRUE(tree.exists(vendor + "lastgasp-setup.service"));
}

TEST(NetconsoleApply, TellsThatEarlyMessagesAreNotReplayedOnOldKernels) {
  FakeTree tree;
  FakeContext f(tree);
  apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
  EXPECT_NE(f.out.str().find("early boot messages are not replayed"), std::string::npos) << f.out.str();
}

TEST(NetconsoleApply, SameCommandAgainChangesNothingAndSaysSo) {
  FakeTree tree(testing::kernel_newest());
  apply(tree);
  auto before = tree.snapshot();
  FakeContext f(tree);
  nlohmann::json report = apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
  EXPECT_FALSE(report["changed"]);
  EXPECT_TRUE(f.sysroot.journal().empty());
  EXPECT_EQ(tree.snapshot(), before);
  EXPECT_NE(f.out.str().find("Nothing to change"), std::string::npos) << f.out.str();
}

TEST(NetconsoleApply, NewMacUpdatesTheTargetAndTheBootOption) {
  FakeTree tree(testing::kernel_newest());
  apply(tree);
  NetPath moved = path_v4();
  moved.mac = "aa:bb:cc:00:11:33";
  FakeContext f(tree);
  nlohmann::json report = apply_netconsole(config_to("10.0.0.1:6666"), moved, {}, f.ctx);
  f.sysroot.commit();
  EXPECT_TRUE(report["changed"]);
  ASSERT_EQ(report["attributes"].size(), 1u);
  EXPECT_EQ(report["attributes"][0]["attribute"], "remote_mac");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), "aa:bb:cc:00:11:33\n");
  EXPECT_NE(tree.read(kNetconsoleModprobeFile).find("/aa:bb:cc:00:11:33\""), std::string::npos);
  // The knobs were already right: they are not written again.
  for (const Operation& op : f.sysroot.journal()) EXPECT_FALSE(op.path.starts_with("/proc/")) << op.path;
}

TEST(NetconsoleApply, NewestKernelPersistsTheQuotedBootOption) {
  FakeTree tree(testing::kernel_newest());
  FakeContext f(tree);
  nlohmann::json report = apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
  EXPECT_EQ(f.err.str(), "");  // netconsole is a module: no built-in warning
  EXPECT_TRUE(report["boot_option"]);
  std::string modprobe = tree.read(kNetconsoleModprobeFile);
  EXPECT_NE(modprobe.find("\noptions netconsole netconsole=\"+r6665@10.0.0.2/eth1,6666@10.0.0.1/aa:bb:cc:00:11:22\"\n"),
            std::string::npos)
      << modprobe;
  EXPECT_EQ(tree.read(kNetconsoleModulesLoadFile).substr(tree.read(kNetconsoleModulesLoadFile).find('\n') + 1),
            "netconsole\n");
  FakeContext reader(tree);
  EXPECT_TRUE(config::load_sender_file(tree.path(kSenderConfigFile)).targets.at(0).boot_option);
}

TEST(NetconsoleApply, BuiltInNetconsoleIsToldToUseTheKernelCommandLine) {
  FakeTree tree(testing::kernel_newest());
  std::filesystem::remove(tree.path("/sys/module/netconsole/initstate"));
  FakeContext f(tree);
  apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
  EXPECT_NE(f.err.str().find("warning: netconsole is built into this kernel"), std::string::npos) << f.err.str();
  EXPECT_NE(f.err.str().find("netconsole=+r6665@10.0.0.2/eth1,6666@10.0.0.1/aa:bb:cc:00:11:22 to the kernel"),
            std::string::npos)
      << f.err.str();
}

TEST(NetconsoleApply, BootOptionForIpv6AndPlainFormat) {
  config::SenderConfig config = config_to("[fd00::1]:7000");
  config.netconsole.src_port = 7001;
  NetPath path{.receiver = "fd00::1", .device = "eth1", .source = "fd00::2", .gateway = "fe80::1",
               .next_hop = "fe80::1", .mac = "aa:bb:cc:00:11:44"};
  EXPECT_EQ(format_boot_option(config, path, true), "+r7001@fd00::2/eth1,7000@fd00::1/aa:bb:cc:00:11:44");
  EXPECT_EQ(format_boot_option(config, path, false), "+7001@fd00::2/eth1,7000@fd00::1/aa:bb:cc:00:11:44");
  config.netconsole.extended = false;
  EXPECT_EQ(format_boot_option(config, path, true), "7001@fd00::2/eth1,7000@fd00::1/aa:bb:cc:00:11:44");
}

TEST(NetconsoleApply, AtBootTheUnitAdoptsCmdline0AndDropsItsOwnDuplicate) {
  FakeTree tree(testing::kernel_newest());
  apply(tree);  // the interactive run made 'lastgasp'
  nlohmann::json report = apply(tree, config::load_sender_file(tree.path(kSenderConfigFile)).config(0), path_v4(),
                                {.persist = true, .at_boot = true});
  EXPECT_EQ(report["target"], "cmdline0");
  EXPECT_TRUE(tree.exists(kDir + "cmdline0"));
  EXPECT_FALSE(tree.exists(kDir + "lastgasp"));
  EXPECT_EQ(tree.read(kDir + "cmdline0/remote_mac"), "aa:bb:cc:00:11:22\n");
  // A later interactive run keeps using cmdline0 instead of making a second target.
  report = apply(tree);
  EXPECT_EQ(report["target"], "cmdline0");
  EXPECT_FALSE(tree.exists(kDir + "lastgasp"));
}

TEST(NetconsoleApply, SomeoneElsesTargetToTheSameReceiverIsRefused) {
  FakeTree tree;
  tree.add_target("theirs", {{"enabled", "1"}, {"remote_ip", "10.0.0.1"}, {"remote_port", "6666"}});
  auto before = tree.snapshot();
  FakeContext f(tree);
  try {
    apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
    FAIL() << "a second target to the same receiver must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'theirs'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("twice"), std::string::npos) << e.what();
  }
  f.sysroot.rollback();
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(NetconsoleApply, JsonReportSurvivesAHostnameThatIsNotUtf8) {
  FakeTree tree(testing::kernel_newest());
  tree.write("/proc/sys/kernel/hostname", "caf\xe9\n");
  FakeContext f(tree);
  nlohmann::json report = apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
  EXPECT_NO_THROW(f.ctx.print_json(report));
  EXPECT_NE(f.out.str().find("\"after\": \"caf\xef\xbf\xbd\""), std::string::npos) << f.out.str();
}

TEST(NetconsoleApply, NoPanicKnobsLeavesPanicSettingsAlone) {
  FakeTree tree;
  config::SenderConfig config = config_to("10.0.0.1:6666");
  config.panic.knobs = false;
  apply(tree, config);
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic"), "0\n");
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic_on_oops"), "0\n");
  EXPECT_EQ(tree.read("/proc/sys/kernel/printk"), "8\t4\t1\t7\n");
  EXPECT_EQ(tree.read(kSysctlFile).find("kernel.panic"), std::string::npos);
}

TEST(NetconsoleApply, PanicTimeoutIsTheGivenOne) {
  FakeTree tree;
  config::SenderConfig config = config_to("10.0.0.1:6666");
  config.panic.timeout = 30;
  apply(tree, config);
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic"), "30\n");
  EXPECT_NE(tree.read(kSysctlFile).find("kernel.panic = 30\n"), std::string::npos);
}

TEST(NetconsoleApply, LoadedKdumpGetsPostNotifiersNowAndAtBoot) {
  FakeTree tree;
  tree.write("/sys/kernel/kexec_crash_loaded", "1\n");
  apply(tree);
  EXPECT_EQ(tree.read("/sys/module/kernel/parameters/crash_kexec_post_notifiers"), "Y\n");
  EXPECT_NE(tree.read(kTmpfilesFile).find("w /sys/module/kernel/parameters/crash_kexec_post_notifiers - - - - Y\n"),
            std::string::npos);
}

TEST(NetconsoleApply, NoPersistWritesNothingUnderEtc) {
  FakeTree tree;
  apply(tree, config_to("10.0.0.1:6666"), path_v4(), {.persist = false});
  EXPECT_TRUE(tree.exists(kDir + "lastgasp/enabled"));
  EXPECT_TRUE(std::filesystem::is_empty(tree.path("/etc")));
}

TEST(NetconsoleApply, DryRunChangesNothingAndSaysWouldForEveryChange) {
  FakeTree tree(testing::kernel_newest());
  tree.add_target("lastgasp", {{"enabled", "1"}, {"remote_ip", "10.0.0.1"}});
  tree.write(kStateFile, "targets = ['lastgasp']\n");  // made by an earlier run
  auto before = tree.snapshot();
  FakeContext f(tree, /*dry_run=*/true);
  nlohmann::json report = apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
  EXPECT_TRUE(report["changed"]);
  EXPECT_EQ(tree.snapshot(), before);
  std::string out = f.out.str();
  EXPECT_NE(out.find("would write /proc/sys/kernel/panic: 10"), std::string::npos) << out;
  EXPECT_NE(out.find("would write /etc/lastgasp/sender.toml"), std::string::npos);
  EXPECT_NE(out.find("would set kernel.panic (reboot after N s, so pstore can be collected): 0 -> 10"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("would set target 'lastgasp' remote_mac: 'ff:ff:ff:ff:ff:ff' -> 'aa:bb:cc:00:11:22'"),
            std::string::npos)
      << out;
  // Nothing reads as done.
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_FALSE(line.starts_with("set ") || line.starts_with("removed ") || line.starts_with("restored ")) << line;
}

TEST(NetconsoleApply, FailureInALaterStepUndoesTheWholeCommand) {
  FakeTree tree;
  // kernel.panic cannot be written: the target and printk, done before it, must be undone.
  std::filesystem::remove(tree.path("/proc/sys/kernel/panic"));
  std::filesystem::create_directory(tree.path("/proc/sys/kernel/panic"));
  auto before = tree.snapshot();
  FakeContext f(tree);
  EXPECT_THROW(apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx), std::exception);
  EXPECT_TRUE(f.sysroot.rollback().failures.empty());
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(NetconsoleApply, SomeoneElsesTargetOfTheGivenNameIsNeverTakenOver) {
  FakeTree tree;
  tree.add_target("theirs", {{"enabled", "1"}, {"remote_ip", "10.5.5.5"}, {"remote_mac", "aa:bb:cc:00:00:05"}});
  auto before = tree.snapshot();
  config::SenderConfig config = config_to("10.0.0.1:6666");
  config.netconsole.name = "theirs";
  FakeContext f(tree);
  try {
    apply_netconsole(config, path_v4(), {}, f.ctx);
    FAIL() << "another's target must not be changed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'theirs' exists and was not made by lastgasp-setup"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("choose another --name"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(f.sysroot.journal().empty());
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(NetconsoleApply, RollbackSaysNothingWasChangedOrWhatRemains) {
  FakeTree tree;
  std::filesystem::remove(tree.path("/proc/sys/kernel/panic"));
  std::filesystem::create_directory(tree.path("/proc/sys/kernel/panic"));
  {
    FakeContext f(tree);
    EXPECT_THROW(apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx), std::exception);
    f.ctx.fail_and_roll_back("netconsole", "boom");
    EXPECT_EQ(f.err.str(), "lastgasp-setup netconsole: boom\n"
                           "lastgasp-setup: the changes made before the failure were undone; nothing was changed\n");
  }
  FakeContext f(tree);
  EXPECT_THROW(apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx), std::exception);
  // printk was written before the failure; now it cannot be put back.
  std::filesystem::remove(tree.path("/proc/sys/kernel/printk"));
  std::filesystem::create_directory(tree.path("/proc/sys/kernel/printk"));
  f.ctx.fail_and_roll_back("netconsole", "boom");
  std::string err = f.err.str();
  EXPECT_EQ(err.find("nothing was changed"), std::string::npos) << err;
  EXPECT_NE(err.find("lastgasp-setup: cannot undo the change to " + tree.path("/proc/sys/kernel/printk").string()),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("the changes above remain"), std::string::npos) << err;
}

TEST(State, NoPersistIsRecordedUnderRunAndRemoveUndoesIt) {
  FakeTree tree;
  auto original = files_only(tree.snapshot());
  apply(tree, config_to("10.0.0.1:6666"), path_v4(), {.persist = false});
  EXPECT_TRUE(std::filesystem::is_empty(tree.path("/etc")));
  ASSERT_TRUE(tree.exists(kRuntimeStateFile));
  FakeContext reader(tree);
  State state = load_state(reader.sysroot);
  EXPECT_EQ(state.targets, std::set<std::string>{"lastgasp"});
  EXPECT_EQ(state.previous.at("/proc/sys/kernel/panic"), "0");

  EXPECT_EQ(remove(tree), kExitOk);
  EXPECT_FALSE(tree.exists(kDir + "lastgasp"));
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic"), "0\n");
  EXPECT_EQ(tree.read("/proc/sys/kernel/printk"), "4\t4\t1\t7\n");
  EXPECT_EQ(files_only(tree.snapshot()), original);
  EXPECT_FALSE(tree.exists("/run/lastgasp"));
}

TEST(State, OriginalValuesSurviveALaterPersistedRunAndAnotherTimeout) {
  FakeTree tree;
  auto original = files_only(tree.snapshot());
  apply(tree, config_to("10.0.0.1:6666"), path_v4(), {.persist = false});
  apply(tree);  // persisted: the state moves to /etc
  config::SenderConfig slower = config_to("10.0.0.1:6666");
  slower.panic.timeout = 30;
  apply(tree, slower);
  EXPECT_FALSE(tree.exists(kRuntimeStateFile));
  FakeContext reader(tree);
  State state = load_state(reader.sysroot);
  EXPECT_EQ(state.previous.at("/proc/sys/kernel/panic"), "0");  // not 10, the tool's own
  EXPECT_EQ(state.previous.at("/proc/sys/kernel/printk"), "4\t4\t1\t7");

  EXPECT_EQ(remove(tree), kExitOk);
  EXPECT_EQ(files_only(tree.snapshot()), original);
}

TEST(Remove, LeavesAValueSomeoneChangedSinceAndSaysSo) {
  FakeTree tree;
  apply(tree);
  tree.write("/proc/sys/kernel/panic", "20\n");
  FakeContext f(tree);
  CLI::App app;
  SubcommandRun run = define_remove(app);
  app.parse("", false);
  EXPECT_EQ(run(f.ctx), kExitOk);
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic"), "20\n");
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic_on_oops"), "0\n");
  EXPECT_NE(f.err.str().find("left /proc/sys/kernel/panic at 20: it was changed after lastgasp-setup set it to 10 "
                             "(it was 0 before)"),
            std::string::npos)
      << f.err.str();
}

TEST(Remove, SaysWhatItCouldNotRestoreAndKeepsItRecorded) {
  FakeTree tree;
  apply(tree);
  {
    // A state of 0.1, which did not record what it wrote...
    FakeContext f(tree);
    State state = load_state(f.sysroot);
    state.written.clear();
    save_state(f.sysroot, state);
    f.sysroot.commit();
  }
  // ...and a kernel.panic that refuses the write (the kernel's read-only /proc/version).
  std::filesystem::remove(tree.path("/proc/sys/kernel/panic"));
  std::filesystem::create_symlink("/proc/version", tree.path("/proc/sys/kernel/panic"));
  FakeContext f(tree);
  CLI::App app;
  SubcommandRun run = define_remove(app);
  app.parse("", false);
  EXPECT_EQ(run(f.ctx), kExitError);
  EXPECT_NE(f.err.str().find("could not restore /proc/sys/kernel/panic to 0"), std::string::npos) << f.err.str();
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic_on_oops"), "0\n");
  FakeContext reader(tree);
  State state = load_state(reader.sysroot);
  EXPECT_EQ(state.previous, (std::map<std::string, std::string>{{"/proc/sys/kernel/panic", "0"}}));
}

TEST(Remove, UndoesTargetFilesAndValues) {
  FakeTree tree(testing::kernel_newest());
  tree.write("/sys/kernel/kexec_crash_loaded", "1\n");
  auto original = files_only(tree.snapshot());
  apply(tree);
  ASSERT_NE(files_only(tree.snapshot()), original);
  EXPECT_EQ(remove(tree), kExitOk);
  EXPECT_EQ(files_only(tree.snapshot()), original);
  EXPECT_FALSE(tree.exists(kDir + "lastgasp"));
  EXPECT_FALSE(tree.exists("/etc/lastgasp"));
}

TEST(Remove, NeverTouchesTargetsItDidNotCreate) {
  FakeTree tree;
  tree.add_target("theirs", {{"enabled", "1"}, {"remote_ip", "10.5.5.5"}});
  apply(tree);
  EXPECT_THROW(remove(tree, "--name theirs"), Error);
  EXPECT_TRUE(tree.exists(kDir + "theirs"));
  EXPECT_EQ(remove(tree), kExitOk);
  EXPECT_FALSE(tree.exists(kDir + "lastgasp"));
  EXPECT_TRUE(tree.exists(kDir + "theirs"));
  EXPECT_EQ(tree.read(kDir + "theirs/enabled"), "1\n");
}

TEST(Remove, OneTargetByNameKeepsTheRestOfTheSetup) {
  FakeTree tree;
  apply(tree);
  config::SenderConfig second = config_to("10.0.0.9:6666");
  second.netconsole.name = "second";
  apply(tree, second, NetPath{.receiver = "10.0.0.9", .device = "eth1", .source = "10.0.0.2", .gateway = {},
                              .next_hop = "10.0.0.9", .mac = "aa:bb:cc:00:11:99"});
  EXPECT_EQ(remove(tree, "--name second"), kExitOk);
  EXPECT_FALSE(tree.exists(kDir + "second"));
  EXPECT_TRUE(tree.exists(kDir + "lastgasp"));
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic"), "10\n");
  EXPECT_TRUE(tree.exists(kUnitFile));
}

TEST(SeveralTargets, SenderTomlHoldsEveryNamedTargetAndRemoveByNameDropsOne) {
  FakeTree tree;
  apply(tree);
  config::SenderConfig second = config_to("10.0.0.9:6666");
  second.netconsole.name = "second";
  NetPath second_path{.receiver = "10.0.0.9", .device = "eth1", .source = "10.0.0.2", .gateway = {},
                      .next_hop = "10.0.0.9", .mac = "aa:bb:cc:00:11:99"};
  apply(tree, second, second_path);
  config::SenderFile saved = config::load_sender_file(tree.path(kSenderConfigFile));
  ASSERT_EQ(saved.targets.size(), 2u);
  EXPECT_EQ(saved.targets[0].name, "lastgasp");
  EXPECT_EQ(saved.targets[1].name, "second");
  EXPECT_EQ(saved.targets[1].to, "10.0.0.9:6666");

  // After a reboot, the unit applies each saved target: both come back.
  for (const char* name : {"lastgasp", "second"}) std::filesystem::remove_all(tree.path(kDir + name));
  apply(tree, saved.config(0), path_v4(), {.persist = true, .at_boot = true});
  apply(tree, saved.config(1), second_path, {.persist = true, .at_boot = true});
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "10.0.0.1\n");
  EXPECT_EQ(tree.read(kDir + "second/remote_ip"), "10.0.0.9\n");
  EXPECT_EQ(config::load_sender_file(tree.path(kSenderConfigFile)).targets.size(), 2u);

  EXPECT_EQ(remove(tree, "--name second"), kExitOk);
  saved = config::load_sender_file(tree.path(kSenderConfigFile));
  ASSERT_EQ(saved.targets.size(), 1u);
  EXPECT_EQ(saved.targets[0].name, "lastgasp");
}

NetPath second_path() {
  return {.receiver = "10.0.0.9", .device = "eth2", .source = "10.0.9.2", .gateway = {}, .next_hop = "10.0.0.9",
          .mac = "aa:bb:cc:00:11:99"};
}

config::SenderConfig second_config() {
  config::SenderConfig second = config_to("10.0.0.9:7000");
  second.netconsole.name = "second";
  return second;
}

// The netconsole= value in the modprobe.d file.
std::string boot_option_value(const FakeTree& tree) {
  std::string text = tree.read(kNetconsoleModprobeFile);
  auto start = text.find("netconsole=\"");
  if (start == std::string::npos) return "";
  start += 12;
  return text.substr(start, text.find('"', start) - start);
}

TEST(SeveralTargets, EveryTargetGetsItsEntryInTheBootOptionAndItsOwnCmdlineTargetAtBoot) {
  FakeTree tree(testing::kernel_newest());
  apply(tree);
  nlohmann::json report = apply(tree, second_config(), second_path());
  EXPECT_TRUE(report["boot_option"]);
  EXPECT_EQ(boot_option_value(tree), "+r6665@10.0.0.2/eth1,6666@10.0.0.1/aa:bb:cc:00:11:22;"
                                     "+r6665@10.0.9.2/eth2,7000@10.0.0.9/aa:bb:cc:00:11:99");
  config::SenderFile saved = config::load_sender_file(tree.path(kSenderConfigFile));
  ASSERT_EQ(saved.targets.size(), 2u);
  EXPECT_TRUE(saved.targets[0].boot_option);
  EXPECT_TRUE(saved.targets[1].boot_option);

  // A reboot: the kernel made cmdline0 and cmdline1 from the option; the unit adopts each.
  for (const char* name : {"lastgasp", "second"}) std::filesystem::remove_all(tree.path(kDir + name));
  std::string option = tree.read(kNetconsoleModprobeFile);
  EXPECT_EQ(apply(tree, saved.config(0), path_v4(), {.persist = true, .at_boot = true})["target"], "cmdline0");
  EXPECT_EQ(apply(tree, saved.config(1), second_path(), {.persist = true, .at_boot = true})["target"], "cmdline1");
  EXPECT_EQ(tree.read(kDir + "cmdline0/remote_ip"), "10.0.0.1\n");
  EXPECT_EQ(tree.read(kDir + "cmdline1/remote_ip"), "10.0.0.9\n");
  EXPECT_EQ(tree.read(kNetconsoleModprobeFile), option);
  // A later interactive run keeps using cmdline1 for the second.
  EXPECT_EQ(apply(tree, second_config(), second_path())["target"], "cmdline1");
  EXPECT_FALSE(tree.exists(kDir + "second"));

  // Removing the first by its saved name removes cmdline0 and its entry; the second keeps its own.
  EXPECT_EQ(remove(tree, "--name lastgasp"), kExitOk);
  EXPECT_FALSE(tree.exists(kDir + "cmdline0"));
  EXPECT_TRUE(tree.exists(kDir + "cmdline1"));
  EXPECT_EQ(boot_option_value(tree), "+r6665@10.0.9.2/eth2,7000@10.0.0.9/aa:bb:cc:00:11:99");
  // Until the next boot the second still lives in cmdline1; then the kernel makes it cmdline0.
  EXPECT_EQ(apply(tree, second_config(), second_path())["target"], "cmdline1");
  EXPECT_EQ(remove(tree, "--name second"), kExitOk);
  EXPECT_FALSE(tree.exists(kNetconsoleModprobeFile));
  EXPECT_FALSE(tree.exists(kNetconsoleModulesLoadFile));
}

TEST(SeveralTargets, ATargetWhoseEntryDoesNotFitIn255BytesIsSetUpWithoutTheReplay) {
  FakeTree tree(testing::kernel_newest());
  apply(tree);
  // IPv6 entries are long: 1 + 2 of them fill the option.
  for (int i = 2; i <= 4; ++i) {
    config::SenderConfig more = config_to("[fd00:77:1234:5678::" + std::to_string(i) + "]:6666");
    more.netconsole.name = "v6-" + std::to_string(i);
    apply(tree, more,
          NetPath{.receiver = "fd00:77:1234:5678::" + std::to_string(i), .device = "eth1",
                  .source = "fd00:77:1234:5678::100", .gateway = {}, .next_hop = "fd00:77:1234:5678::1",
                  .mac = "aa:bb:cc:00:11:4" + std::to_string(i)});
  }
  std::string option = boot_option_value(tree);
  EXPECT_LE(option.size(), 255u) << option;
  config::SenderFile saved = config::load_sender_file(tree.path(kSenderConfigFile));
  ASSERT_EQ(saved.targets.size(), 4u);
  std::size_t with_option = 0;
  for (const auto& target : saved.targets) with_option += target.boot_option ? 1 : 0;
  EXPECT_EQ(static_cast<std::size_t>(std::count(option.begin(), option.end(), ';')) + 1, with_option) << option;
  EXPECT_TRUE(saved.targets[0].boot_option);
  EXPECT_FALSE(saved.targets[3].boot_option) << option;
  EXPECT_TRUE(tree.exists(kDir + "v6-4"));
}

TEST(SenderConfig, SingleTargetFileOfOlderVersionsIsRead) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml",
             "[netconsole]\nname = 'lastgasp'\nto = '10.0.0.1:6666'\n\n[panic]\ntimeout = 20\n");
  config::SenderFile saved = config::load_sender_file(tree.path("/etc/lastgasp/sender.toml"));
  ASSERT_EQ(saved.targets.size(), 1u);
  EXPECT_EQ(saved.targets[0].to, "10.0.0.1:6666");
  EXPECT_EQ(saved.panic.timeout, 20);
}

TEST(SenderConfig, MacOfASingleTargetFileOfOlderVersionsIsRead) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml",
             "[netconsole]\nname = 'lastgasp'\nto = '10.0.0.1:6666'\nmac = '52:54:00:AB:CD:EF'\n");
  config::SenderFile saved = config::load_sender_file(tree.path("/etc/lastgasp/sender.toml"));
  ASSERT_EQ(saved.targets.size(), 1u);
  EXPECT_EQ(saved.targets[0].mac, "52:54:00:ab:cd:ef");
}

TEST(SenderConfig, ABadMacNamesItsTarget) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml",
             "[[netconsole]]\nname = 'a'\nto = '10.0.0.1:6666'\n[[netconsole]]\nname = 'b'\n"
             "to = '10.0.0.2:6666'\nmac = 'ff:ff:ff:ff:ff:ff'\n");
  try {
    config::load_sender_file(tree.path("/etc/lastgasp/sender.toml"));
    FAIL() << "a broadcast MAC must be refused";
  } catch (const config::ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("sender.toml:7:"), std::string::npos) << what;
    EXPECT_NE(what.find("netconsole.mac"), std::string::npos) << what;
  }
}

TEST(SenderConfig, TwoTargetsOfOneNameAreRefused) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml",
             "[[netconsole]]\nto = '10.0.0.1:6666'\n[[netconsole]]\nto = '10.0.0.2:6666'\n");
  EXPECT_THROW(config::load_sender_file(tree.path("/etc/lastgasp/sender.toml")), config::ConfigError);
}

TEST(SenderConfig, BadKeyNamesFileLineAndKey) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml", "[netconsole]\nto = \"10.0.0.1:6666\"\ncolour = \"red\"\n");
  try {
    config::load_sender_file(tree.path("/etc/lastgasp/sender.toml"));
    FAIL() << "an unknown key must be refused";
  } catch (const config::ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("sender.toml:3:"), std::string::npos) << what;
    EXPECT_NE(what.find("key 'netconsole.colour'"), std::string::npos) << what;
  }
}

TEST(SenderConfig, DocumentedExampleLoads) {
  config::SenderFile example = config::load_sender_file(LASTGASP_SENDER_EXAMPLE);
  ASSERT_EQ(example.targets.size(), 1u);
  EXPECT_EQ(example.targets[0].to, "192.0.2.10:6666");
  EXPECT_EQ(example.targets[0].name, "lastgasp");
  EXPECT_EQ(example.panic.timeout, 10);
}

TEST(SenderConfig, WrittenConfigReadsBackTheSame) {
  FakeTree tree;
  config::SenderConfig config = config_to("[fd00::1]:7000");
  config.netconsole.to_name = "logs.example";
  config.netconsole.dev = "eth1";
  config.netconsole.mac = "52:54:00:12:34:56";
  config.netconsole.src_port = 7001;
  config.netconsole.extended = false;
  config.netconsole.boot_option = true;
  config.panic = {.knobs = false, .timeout = 30};
  config::SenderConfig second = config_to("10.0.0.9:6666");
  second.netconsole.name = "second";
  config::SenderFile file{.targets = {config.netconsole, second.netconsole}, .panic = config.panic};
  tree.write("/etc/lastgasp/sender.toml", config::format_sender_file(file));
  config::SenderFile back = config::load_sender_file(tree.path("/etc/lastgasp/sender.toml"));
  EXPECT_EQ(config::format_sender_file(back), config::format_sender_file(file));
  ASSERT_EQ(back.targets.size(), 2u);
  EXPECT_EQ(back.targets[0].to, "[fd00::1]:7000");
  // The MAC given with --mac belongs to its own target, not to the file.
  EXPECT_EQ(back.targets[0].mac, "52:54:00:12:34:56");
  EXPECT_EQ(back.targets[1].name, "second");
  EXPECT_EQ(back.targets[1].mac, "");
  EXPECT_EQ(back.panic.timeout, 30);
}

}  // namespace
}  // namespace lastgasp::setup
