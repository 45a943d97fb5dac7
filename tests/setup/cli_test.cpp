// The binary as a user meets it, on fake trees: bad input is one line and exit
// status 2 with nothing changed; check's JSON and exit status; pstore's
// proposal and --apply; remove through the command line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "fake_tree.hpp"
#include "tool_runner.hpp"

namespace lastgasp::setup {
namespace {

using testing::FakeTree;
using testing::run_tool;
using testing::ToolResult;

std::vector<std::string> on(const FakeTree& tree, std::vector<std::string> args) {
  args.insert(args.begin(), {"--root", tree.root().string()});
  return args;
}

void expect_one_line_error(const ToolResult& r, const std::string& needle) {
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

struct BadInput : ::testing::TestWithParam<std::pair<std::vector<std::string>, std::string>> {};

TEST_P(BadInput, IsOneLineExitTwoAndChangesNothing) {
  FakeTree tree;
  auto before = tree.snapshot();
  auto [args, needle] = GetParam();
  expect_one_line_error(run_tool(on(tree, args)), needle);
  EXPECT_EQ(tree.snapshot(), before);
}

INSTANTIATE_TEST_SUITE_P(
    Cli, BadInput,
    ::testing::Values(
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "[fd00::1:6666"}, "missing ']'"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1:70000"}, "port must be a number from 1 to 65535"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1:0"}, "port must be a number"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "fd00::1:66zz"}, "with a port, write it as [ADDR]:PORT"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "fe80::1%eth0:6666"}, "[ADDR%DEV]:PORT"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "fe80::1%lgst-a", "--dev", "lgst-b"},
                       "--to names the device lgst-a (after '%') and --dev names lgst-b"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "239.1.2.3"}, "is a multicast address"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "[ff05::1]:6666"}, "is a multicast address"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "255.255.255.255"}, "is a broadcast address"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1", "--mac", "02:00:00:00:00"}, "bad --mac"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1", "--mac", "ff:ff:ff:ff:ff:ff"},
                       "broadcast or multicast MAC"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1", "--mac", "00:00:00:00:00:00"},
                       "all-zero MAC"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1", "--mac", "02:00:00:00:00:01",
                                                "--allow-broadcast"},
                       "--allow-broadcast excludes --mac"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "[not-an-address]:6666"}, "is not an IPv6 address"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1", "--src-port", "0"}, "--src-port"),
        std::make_pair(std::vector<std::string>{"netconsole", "--to", "10.0.0.1", "--name", "a/b"}, "bad --name"),
        std::make_pair(std::vector<std::string>{"netconsole"}, "--to is required"),
        std::make_pair(std::vector<std::string>{"frobnicate"}, "name a subcommand: netconsole pstore"),
        std::make_pair(std::vector<std::string>{"apply"}, "sender.toml")));

TEST(Cli, UnknownInterfaceIsBadInput) {
  FakeTree tree;
  auto before = tree.snapshot();
  expect_one_line_error(run_tool(on(tree, {"netconsole", "--to", "10.0.0.1", "--dev", "lgst-nosuch0"})),
                        "unknown interface 'lgst-nosuch0'");
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(Cli, BadConfigNamesFileLineAndKey) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml", "[netconsole]\nto = \"10.0.0.1:6666\"\nsrc_port = 99999\n");
  auto before = tree.snapshot();
  expect_one_line_error(run_tool(on(tree, {"apply"})), "sender.toml:3:12: key 'netconsole.src_port': must be between 1 and 65535");
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(Cli, BadMacInConfigNamesTheKey) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml", "[netconsole]\nto = \"10.0.0.1:6666\"\nmac = \"01:00:5e:00:00:01\"\n");
  expect_one_line_error(run_tool(on(tree, {"apply"})), "key 'netconsole.mac': '01:00:5e:00:00:01' is a broadcast or multicast MAC");
}

TEST(Cli, ZoneIsRefusedWhereItCannotNameNetconsolesDevice) {
  FakeTree tree;
  expect_one_line_error(run_tool(on(tree, {"verify", "--to", "fe80::1%lo"})), "a zone (%lo) only names netconsole's device");
}

TEST(Cli, RootThatIsNotADirectoryIsBadInput) {
  expect_one_line_error(run_tool({"--root", "/nonexistent/lastgasp", "check"}), "is not a directory");
}

TEST(Cli, HelpIsNotAnError) {
  ToolResult r = run_tool({"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* command : {"netconsole", "pstore", "check", "remove"})
    EXPECT_NE(r.out.find(command), std::string::npos) << r.out;
}

TEST(Cli, VersionIsCMakesProjectVersion) {
  ToolResult r = run_tool({"--version"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, std::string(LASTGASP_PROJECT_VERSION) + "\n");
  EXPECT_EQ(r.err, "");
}

TEST(Cli, ConfigIsReadUnderTheRoot) {
  FakeTree tree;
  // Only under the root: a path read on the host would say there is no such file.
  tree.write("/etc/lastgasp/other.toml", "[[netconsole]]\nto = \"10.0.0.1:6666\"\ncolour = \"red\"\n");
  auto before = tree.snapshot();
  expect_one_line_error(run_tool(on(tree, {"apply", "--config", "/etc/lastgasp/other.toml"})),
                        tree.path("/etc/lastgasp/other.toml").string() + ":3:1: key 'netconsole.colour'");
  EXPECT_EQ(tree.snapshot(), before);
}

TEST(Cli, DryRunRemoveSaysWouldAndChangesNothing) {
  FakeTree tree;
  tree.add_target("lastgasp", {{"enabled", "1"}, {"remote_ip", "10.0.0.1"}});
  tree.write("/proc/sys/kernel/panic", "10\n");
  tree.write("/run/lastgasp/state", "targets = ['lastgasp']\n[previous]\n'/proc/sys/kernel/panic' = '0'\n");
  auto before = tree.snapshot();
  ToolResult r = run_tool(on(tree, {"--dry-run", "remove"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
  EXPECT_NE(r.out.find("would remove netconsole target 'lastgasp'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would restore /proc/sys/kernel/panic: 10 -> 0"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nremoved"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nrestored"), std::string::npos) << r.out;
}

nlohmann::json item(const nlohmann::json& report, const std::string& id) {
  for (const auto& i : report["items"])
    if (i["id"] == id) return i;
  ADD_FAILURE() << "no item " << id << " in " << report.dump(2);
  return nlohmann::json::object();
}

TEST(Check, FreshHostIsNotReadyAndSaysWhatToFix) {
  FakeTree tree;
  ToolResult r = run_tool(on(tree, {"check", "--json"}));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  nlohmann::json report = nlohmann::json::parse(r.out);
  EXPECT_FALSE(report["ready"]);
  for (const auto& i : report["items"]) {
    EXPECT_TRUE(i.contains("id") && i.contains("state") && i.contains("value") && i.contains("fix")) << i.dump();
    EXPECT_EQ(i["fix"].is_null(), i["state"] == "ok") << i.dump();
  }
  EXPECT_EQ(item(report, "netconsole.module")["state"], "ok");
  EXPECT_EQ(item(report, "netconsole.configfs")["state"], "ok");
  EXPECT_EQ(item(report, "netconsole.targets")["state"], "fail");
  EXPECT_EQ(item(report, "printk.console_loglevel")["state"], "fail");
  EXPECT_EQ(item(report, "printk.console_loglevel")["value"], "4");
  EXPECT_EQ(item(report, "kernel.panic")["state"], "warn");
  EXPECT_EQ(item(report, "kernel.panic_on_oops")["state"], "warn");
  EXPECT_EQ(item(report, "pstore.backend")["state"], "warn");
  EXPECT_EQ(item(report, "kdump.loaded")["state"], "warn");
  EXPECT_EQ(item(report, "kdump.post_notifiers")["state"], "ok");
  EXPECT_EQ(item(report, "sysrq")["state"], "ok");
}

TEST(Check, MissingModuleAndKdumpWithoutPostNotifiersFail) {
  FakeTree tree;
  std::filesystem::remove_all(tree.path("/sys/module/netconsole"));
  std::filesystem::remove_all(tree.path("/sys/kernel/config/netconsole"));
  tree.write("/sys/kernel/kexec_crash_loaded", "1\n");
  tree.write("/proc/sys/kernel/sysrq", "0\n");
  ToolResult r = run_tool(on(tree, {"--json", "check"}));
  EXPECT_EQ(r.status, 1);
  nlohmann::json report = nlohmann::json::parse(r.out);
  EXPECT_EQ(item(report, "netconsole.module")["state"], "fail");
  EXPECT_EQ(item(report, "netconsole.configfs")["state"], "fail");
  EXPECT_EQ(item(report, "kdump.loaded")["state"], "ok");
  EXPECT_EQ(item(report, "kdump.post_notifiers")["state"], "fail");
  EXPECT_EQ(item(report, "sysrq")["state"], "warn");
}

TEST(Check, DisabledTargetFailsAndRamoopsRecordsAreCounted) {
  FakeTree tree;
  tree.add_target("theirs", {{"enabled", "0"}, {"dev_name", "lgst-nosuch0"}, {"remote_ip", "10.0.0.1"}});
  tree.write("/sys/module/pstore/parameters/backend", "ramoops\n");
  for (const auto& [param, value] : std::map<std::string, std::string>{
           {"mem_size", "1048576"}, {"record_size", "65536"}, {"console_size", "262144"}, {"ftrace_size", "0"},
           {"pmsg_size", "0"}})
    tree.write("/sys/module/ramoops/parameters/" + param, value + "\n");
  tree.write("/sys/fs/pstore/dmesg-ramoops-0", "Panic#1 Part1\n");
  tree.write("/sys/fs/pstore/console-ramoops-0", "...\n");
  ToolResult r = run_tool(on(tree, {"check", "--json"}));
  EXPECT_EQ(r.status, 1);
  nlohmann::json report = nlohmann::json::parse(r.out);
  EXPECT_EQ(item(report, "target.theirs.enabled")["state"], "fail");
  EXPECT_EQ(item(report, "target.theirs.device")["state"], "fail");
  EXPECT_EQ(item(report, "pstore.backend")["state"], "ok");
  EXPECT_EQ(item(report, "pstore.backend")["value"], "ramoops, 1 dmesg record(s) stored of 12");
}

TEST(Check, TwoEnabledTargetsToOneReceiverFail) {
  FakeTree tree;
  // These tests run in the host's namespace: a device that does not exist keeps
  // check from probing the next hop, so nothing is sent anywhere.
  for (const char* name : {"first", "second"})
    tree.add_target(name, {{"enabled", "1"}, {"dev_name", "lgst-nosuch0"}, {"remote_ip", "10.0.0.1"},
                           {"remote_port", "6666"}});
  tree.add_target("elsewhere", {{"enabled", "1"}, {"dev_name", "lgst-nosuch0"}, {"remote_ip", "10.0.0.1"},
                                {"remote_port", "7777"}});
  nlohmann::json report = nlohmann::json::parse(run_tool(on(tree, {"check", "--json"})).out);
  nlohmann::json duplicates = item(report, "netconsole.duplicates");
  EXPECT_EQ(duplicates["state"], "fail");
  EXPECT_EQ(duplicates["value"], "first, second all send to 10.0.0.1 port 6666");
}

TEST(Check, EverySavedTargetMustBeLive) {
  FakeTree tree;
  tree.write("/etc/lastgasp/sender.toml",
             "[[netconsole]]\nname = 'lastgasp'\nto = '10.0.0.1:6666'\n"
             "[[netconsole]]\nname = 'second'\nto = '10.0.0.9:6666'\n");
  // A device that does not exist keeps check from probing the next hop.
  tree.add_target("lastgasp", {{"enabled", "1"}, {"dev_name", "lgst-nosuch0"}, {"remote_ip", "10.0.0.1"}});
  nlohmann::json report = nlohmann::json::parse(run_tool(on(tree, {"check", "--json"})).out);
  EXPECT_FALSE(report["ready"]);
  EXPECT_EQ(item(report, "saved.lastgasp")["state"], "ok");
  EXPECT_EQ(item(report, "saved.second")["state"], "fail");
  EXPECT_NE(item(report, "saved.second")["value"].get<std::string>().find("no target 'second' in configfs"),
            std::string::npos);
}

TEST(Check, TextReportShowsFixes) {
  FakeTree tree;
  ToolResult r = run_tool(on(tree, {"check"}));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("fail  printk.console_loglevel: 4\n      fix: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Not ready"), std::string::npos);
}

// A host with no pstore backend, as on a plain bookworm VM.
struct Pstore : ::testing::Test {
  FakeTree tree;
  void SetUp() override {
    tree.write("/proc/iomem",
               "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n"
               "00100000-bfffffff : System RAM\n  01000000-02209987 : Kernel code\n"
               "100000000-63fffffff : System RAM\n");
    tree.write("/lib/systemd/system/systemd-pstore.service", "[Unit]\n");
    tree.write("/etc/default/grub", "GRUB_CMDLINE_LINUX=\"\"\n");
  }
  nlohmann::json run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "pstore"});
    ToolResult r = run_tool(on(tree, args));
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }
};

TEST_F(Pstore, WithoutApplyProposesAndWritesNothing) {
  auto before = tree.snapshot();
  nlohmann::json report = run({});
  EXPECT_EQ(report["backend"], "none");
  EXPECT_TRUE(report["mounted"]);
  EXPECT_FALSE(report["applied"]);
  EXPECT_TRUE(report.contains("proposal"));
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(Pstore, DryRunApplyChangesNothing) {
  auto before = tree.snapshot();
  ToolResult r = run_tool(on(tree, {"--dry-run", "pstore", "--apply"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("would write /etc/default/grub.d/lastgasp-pstore.cfg"), std::string::npos) << r.out;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(Pstore, NoBackendGetsAMemmapRegionWithGrubEscapingAndModuleOptions) {
  nlohmann::json report = run({"--apply"});
  // Middle of the largest RAM range below 4 GiB, 1 MiB aligned.
  // Raw, as the kernel reads it; escaped only inside GRUB's file.
  EXPECT_EQ(report["proposal"]["kernel_args"], "memmap=1M$0x60000000 pstore.kmsg_bytes=65536");
  EXPECT_NE(tree.read("/etc/default/grub.d/lastgasp-pstore.cfg")
                .find("GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX memmap=1M\\\\\\$0x60000000 pstore.kmsg_bytes=65536\"\n"),
            std::string::npos)
      << tree.read("/etc/default/grub.d/lastgasp-pstore.cfg");
  EXPECT_NE(tree.read("/etc/modprobe.d/lastgasp-ramoops.conf")
                .find("options ramoops mem_address=\"0x60000000\" mem_size=\"1048576\" record_size=\"65536\" "
                      "console_size=\"262144\"\n"),
            std::string::npos)
      << tree.read("/etc/modprobe.d/lastgasp-ramoops.conf");
  EXPECT_NE(tree.read("/etc/modules-load.d/lastgasp-ramoops.conf").find("\nramoops\n"), std::string::npos);
}

// reserve_mem= would move when KASLR puts the kernel where the last boot's region was.
TEST_F(Pstore, KernelWithMemNameStillGetsAFixedMemmapRegion) {
  tree.write("/sys/module/ramoops/parameters/mem_name", "\n");
  tree.write("/sys/module/ramoops/initstate", "live\n");  // a loaded module, not built in
  nlohmann::json report = run({"--apply"});
  EXPECT_EQ(report["proposal"]["kernel_args"], "memmap=1M$0x60000000 pstore.kmsg_bytes=65536");
  EXPECT_NE(tree.read("/etc/modprobe.d/lastgasp-ramoops.conf").find("mem_address=\"0x60000000\""), std::string::npos);
}

// Booted with the region, /proc/iomem shows it reserved and the RAM range split; a second run
// before ramoops is loaded must point ramoops at the same region, not at the new range's middle.
TEST_F(Pstore, ARegionAlreadyOnTheCommandLineIsKept) {
  tree.write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 memmap=1M$0x60000000 pstore.kmsg_bytes=65536\n");
  tree.write("/proc/iomem",
             "00001000-0009fbff : System RAM\n00100000-5fffffff : System RAM\n60000000-600fffff : Reserved\n"
             "60100000-bfffffff : System RAM\n");
  nlohmann::json report = run({"--apply"});
  EXPECT_EQ(report["proposal"]["kernel_args"], "memmap=1M$0x60000000 pstore.kmsg_bytes=65536");
  EXPECT_NE(tree.read("/etc/modprobe.d/lastgasp-ramoops.conf").find("mem_address=\"0x60000000\""), std::string::npos);
}

TEST_F(Pstore, AnotherSizeOrAMisalignedRegionOnTheCommandLineIsNotOurs) {
  tree.write("/proc/cmdline", "memmap=2M$0x70000000 memmap=1M$0x70000800 memmap=1M!0x70000000\n");
  nlohmann::json report = run({});
  EXPECT_EQ(report["proposal"]["kernel_args"], "memmap=1M$0x60000000 pstore.kmsg_bytes=65536");
}

TEST_F(Pstore, ExistingBackendNeedsNoRegion) {
  tree.write("/sys/module/pstore/parameters/backend", "efi_pstore\n");
  nlohmann::json report = run({"--apply"});
  EXPECT_EQ(report["backend"], "efi");
  EXPECT_FALSE(report.contains("proposal"));
  EXPECT_FALSE(tree.exists("/etc/default/grub.d/lastgasp-pstore.cfg"));
}

TEST_F(Pstore, ApplyMakesSystemdPstoreCollectAndRemoveUndoesIt) {
  tree.write("/sys/module/pstore/parameters/backend", "ramoops\n");
  tree.write("/etc/systemd/pstore.conf", "[PStore]\nStorage=journal\n");
  auto original = tree.snapshot();
  nlohmann::json report = run({"--apply"});
  EXPECT_EQ(report["collection"]["storage"], "journal");
  EXPECT_NE(tree.read("/etc/systemd/pstore.conf.d/lastgasp.conf").find("Storage=external\n"), std::string::npos);
  EXPECT_EQ(std::filesystem::read_symlink(tree.path("/etc/systemd/system/sysinit.target.wants/systemd-pstore.service")),
            "/lib/systemd/system/systemd-pstore.service");
  EXPECT_EQ(run({})["collection"]["storage"], "external");

  ToolResult removed = run_tool(on(tree, {"remove"}));
  EXPECT_EQ(removed.status, 0) << removed.err;
  EXPECT_FALSE(tree.exists("/etc/systemd/pstore.conf.d/lastgasp.conf"));
  EXPECT_FALSE(tree.exists("/etc/systemd/system/sysinit.target.wants/systemd-pstore.service"));
  EXPECT_FALSE(tree.exists("/etc/lastgasp/state"));
}

}  // namespace
}  // namespace lastgasp::setup
