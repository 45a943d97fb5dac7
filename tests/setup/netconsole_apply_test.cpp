// `netconsole` after the path is resolved, on a fake tree: the target, the
// printk and panic knobs, persistence, the state, the boot option, duplicates,
// idempotence, the transaction, and `remove`.
#include <gtest/gtest.h>

#include <filesystem>

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

  config::SenderConfig saved = config::load_sender_config(tree.path(kSenderConfigFile));
  EXPECT_EQ(saved.netconsole.to, "10.0.0.1:6666");
  EXPECT_EQ(saved.netconsole.name, "lastgasp");
  EXPECT_FALSE(saved.netconsole.boot_option);
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
  EXPECT_TRUE(config::load_sender_config(tree.path(kSenderConfigFile)).netconsole.boot_option);
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
  nlohmann::json report = apply(tree, config::load_sender_config(tree.path(kSenderConfigFile)), path_v4(),
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

TEST(NetconsoleApply, DryRunChangesNothing) {
  FakeTree tree(testing::kernel_newest());
  tree.add_target("lastgasp", {{"enabled", "1"}, {"remote_ip", "10.0.0.1"}});
  auto before = tree.snapshot();
  FakeContext f(tree, /*dry_run=*/true);
  nlohmann::json report = apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx);
  EXPECT_TRUE(report["changed"]);
  EXPECT_EQ(tree.snapshot(), before);
  EXPECT_NE(f.out.str().find("would write /proc/sys/kernel/panic: 10"), std::string::npos) << f.out.str();
  EXPECT_NE(f.out.str().find("would write /etc/lastgasp/sender.toml"), std::string::npos);
}

TEST(NetconsoleApply, FailureInALaterStepUndoesTheWholeCommand) {
  FakeTree tree;
  // kernel.panic cannot be written: the target and printk, done before it, must be undone.
  std::filesystem::remove(tree.path("/proc/sys/kernel/panic"));
  std::filesystem::create_directory(tree.path("/proc/sys/kernel/panic"));
  auto before = tree.snapshot();
  FakeContext f(tree);
  EXPECT_THROW(apply_netconsole(config_to("10.0.0.1:6666"), path_v4(), {}, f.ctx), std::exception);
  EXPECT_TRUE(f.sysroot.rollback().empty());
  EXPECT_EQ(tree.snapshot(), before);
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

TEST(SenderConfig, BadKeyNamesFileLineAndKey) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml", "[netconsole]\nto = \"10.0.0.1:6666\"\ncolour = \"red\"\n");
  try {
    config::load_sender_config(tree.path("/etc/lastgasp/sender.toml"));
    FAIL() << "an unknown key must be refused";
  } catch (const config::ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("sender.toml:3:"), std::string::npos) << what;
    EXPECT_NE(what.find("key 'netconsole.colour'"), std::string::npos) << what;
  }
}

TEST(SenderConfig, DocumentedExampleLoads) {
  config::SenderConfig example = config::load_sender_config(LASTGASP_SENDER_EXAMPLE);
  EXPECT_EQ(example.netconsole.to, "192.0.2.10:6666");
  EXPECT_EQ(example.netconsole.name, "lastgasp");
  EXPECT_EQ(example.panic.timeout, 10);
}

TEST(SenderConfig, WrittenConfigReadsBackTheSame) {
  FakeTree tree;
  config::SenderConfig config = config_to("[fd00::1]:7000");
  config.netconsole.to_name = "logs.example";
  config.netconsole.dev = "eth1";
  config.netconsole.src_port = 7001;
  config.netconsole.extended = false;
  config.netconsole.boot_option = true;
  config.panic = {.knobs = false, .timeout = 30};
  tree.write("/etc/lastgasp/sender.toml", config::format_sender_config(config));
  config::SenderConfig back = config::load_sender_config(tree.path("/etc/lastgasp/sender.toml"));
  EXPECT_EQ(config::format_sender_config(back), config::format_sender_config(config));
  EXPECT_EQ(back.netconsole.to, "[fd00::1]:7000");
  EXPECT_EQ(back.panic.timeout, 30);
}

}  // namespace
}  // namespace lastgasp::setup
