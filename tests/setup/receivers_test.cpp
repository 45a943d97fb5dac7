// Two receivers per host (`netconsole --to A --to B`), in network namespaces:
// each target gets its own route, source and next hop; one receiver that cannot
// be reached fails the run and changes nothing; `check` is Ready only when every
// receiver is, and names the one that is not; both come back at boot from
// sender.toml, and `remove` takes both away.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_tree.hpp"
#include "netns.hpp"
#include "tool_runner.hpp"

namespace lastgasp::setup {
namespace {

using testing::connect;
using testing::connect_two_ways_out;
using testing::FakeTree;
using testing::files_only;
using testing::json_of;
using testing::Namespace;
using testing::run_tool;
using testing::setup_args;
using testing::sh;
using testing::ToolResult;

const std::string kDir = "/sys/kernel/config/netconsole/";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

nlohmann::json item(const nlohmann::json& report, const std::string& id) {
  for (const auto& i : report["items"])
    if (i["id"] == id) return i;
  ADD_FAILURE() << "no item " << id << " in " << report.dump(2);
  return nlohmann::json::object();
}

// The first receiver behind a router, the second on another link:
// sender a0 10.77.1.2 -> router 10.77.1.1 | 10.77.2.1 -> receiver 10.77.2.2, and
// sender c0 10.77.3.2 -> other 10.77.3.1.
struct TwoReceivers : ::testing::Test {
  Namespace sender{"snd"}, router{"rtr"}, receiver{"rcv"}, other{"oth"};
  FakeTree tree;
  void SetUp() override {
    connect_two_ways_out(sender, router, receiver, other);
  }
  ToolResult run(std::vector<std::string> args) { return run_tool(setup_args(tree, std::move(args)), sender.name()); }
  ToolResult set_up_both() { return run({"netconsole", "--to", "10.77.2.2", "--to", "10.77.3.1:7000"}); }
  // A reboot: configfs and /run start empty, sender.toml and the state in /etc stay.
  void reboot() {
    for (const char* name : {"lastgasp", "lastgasp-2"}) std::filesystem::remove_all(tree.path(kDir + name));
    std::filesystem::remove_all(tree.path("/run"));
  }
  void expect_both_targets() {
    EXPECT_EQ(tree.read(kDir + "lastgasp/dev_name"), "a0\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp/local_ip"), "10.77.1.2\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "10.77.2.2\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), router.mac("r0") + "\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp/enabled"), "1\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp-2/dev_name"), "c0\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp-2/local_ip"), "10.77.3.2\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp-2/remote_ip"), "10.77.3.1\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp-2/remote_port"), "7000\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp-2/remote_mac"), other.mac("d0") + "\n");
    EXPECT_EQ(tree.read(kDir + "lastgasp-2/enabled"), "1\n");
  }
};

TEST_F(TwoReceivers, OneRunMakesATargetPerReceiverEachWithItsOwnPath) {
  ToolResult r = set_up_both();
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json targets = json_of(r)["targets"];
  ASSERT_EQ(targets.size(), 2u) << r.out;
  EXPECT_EQ(targets[0]["target"], "lastgasp");
  EXPECT_EQ(targets[0]["path"]["gateway"], "10.77.1.1");
  EXPECT_EQ(targets[0]["path"]["mac"], router.mac("r0"));
  EXPECT_EQ(targets[1]["target"], "lastgasp-2");
  EXPECT_TRUE(targets[1]["path"]["gateway"].is_null());
  EXPECT_EQ(targets[1]["path"]["device"], "c0");
  EXPECT_EQ(targets[1]["path"]["mac"], other.mac("d0"));
  expect_both_targets();
  std::string saved = tree.read("/etc/lastgasp/sender.toml");
  EXPECT_TRUE(contains(saved, "name = 'lastgasp'\n")) << saved;
  EXPECT_TRUE(contains(saved, "to = '10.77.2.2:6666'")) << saved;
  EXPECT_TRUE(contains(saved, "name = 'lastgasp-2'\n")) << saved;
  EXPECT_TRUE(contains(saved, "to = '10.77.3.1:7000'")) << saved;

  ToolResult check = run({"check"});
  EXPECT_EQ(check.status, 0) << check.out;
  nlohmann::json report = json_of(check);
  EXPECT_EQ(item(report, "receivers")["value"], "2 of 2 receivers ready");
  ASSERT_EQ(report["receivers"].size(), 2u) << check.out;
  EXPECT_EQ(report["receivers"][0]["receiver"], "10.77.2.2:6666");
  EXPECT_EQ(report["receivers"][1]["receiver"], "10.77.3.1:7000");
  EXPECT_EQ(report["receivers"][1]["target"], "lastgasp-2");
  EXPECT_TRUE(report["receivers"][0]["ready"]);
  EXPECT_TRUE(report["receivers"][1]["ready"]);
  ToolResult text = run_tool({"--root", tree.root().string(), "check"}, sender.name());
  EXPECT_TRUE(contains(text.out, "Ready: a panic on this host reaches all 2 receivers.")) << text.out;
}

TEST_F(TwoReceivers, AnUnreachableReceiverFailsTheRunNamingItAndChangesNothing) {
  auto before = tree.snapshot();
  ToolResult r = run({"netconsole", "--to", "10.77.2.2", "--to", "10.77.3.50"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "1 of 2 receivers cannot be reached, so none was set up")) << r.err;
  EXPECT_TRUE(contains(r.err, "receiver 10.77.3.50:6666 (target 'lastgasp-2'): ")) << r.err;
  EXPECT_TRUE(contains(r.err, "c0")) << r.err;
  EXPECT_FALSE(contains(r.err, "10.77.2.2")) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(TwoReceivers, CheckIsNotReadyWhileOneReceiverIsNotAndSaysWhichAndWhy) {
  ASSERT_EQ(set_up_both().status, 0);
  // The second receiver's NIC is replaced: its target's MAC is now stale.
  other.ip("link set d0 address 02:00:00:77:77:03");
  sender.ip("neigh flush dev c0");
  ToolResult check = run({"check"});
  EXPECT_EQ(check.status, 1) << check.out;
  nlohmann::json report = json_of(check);
  EXPECT_FALSE(report["ready"]);
  nlohmann::json receivers = item(report, "receivers");
  EXPECT_EQ(receivers["state"], "fail");
  std::string value = receivers["value"];
  EXPECT_TRUE(value.starts_with("1 of 2 receivers ready; not ready: 10.77.3.1:7000 (target 'lastgasp-2'): "
                                "target.lastgasp-2.mac: "))
      << value;
  EXPECT_TRUE(contains(value, "stale")) << value;
  EXPECT_FALSE(contains(value, "10.77.2.2")) << value;
  EXPECT_TRUE(report["receivers"][0]["ready"]);
  EXPECT_FALSE(report["receivers"][1]["ready"]);
  EXPECT_TRUE(contains(report["receivers"][1]["problem"], "stale")) << report["receivers"].dump(2);

  // apply follows the new MAC, and both are ready again.
  ASSERT_EQ(run({"apply"}).status, 0);
  EXPECT_EQ(tree.read(kDir + "lastgasp-2/remote_mac"), "02:00:00:77:77:03\n");
  EXPECT_EQ(run({"check"}).status, 0);
}

TEST_F(TwoReceivers, BothComeBackAtBootFromSenderToml) {
  ASSERT_EQ(set_up_both().status, 0);
  reboot();
  ToolResult check = run({"check"});
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_TRUE(contains(item(json_of(check), "receivers")["value"], "0 of 2 receivers ready")) << check.out;

  ToolResult apply = run({"apply"});
  ASSERT_EQ(apply.status, 0) << apply.err;
  EXPECT_EQ(json_of(apply)["targets"].size(), 2u) << apply.out;
  expect_both_targets();
  EXPECT_EQ(run({"check"}).status, 0);
}

TEST_F(TwoReceivers, AtBootAReceiverThatIsAwayDoesNotHoldUpTheOtherAndStaysSaved) {
  ASSERT_EQ(set_up_both().status, 0);
  reboot();
  tree.write("/dev/kmsg", "");
  other.ip("addr del 10.77.3.1/24 dev d0");  // the second receiver's host is down at boot
  sender.ip("neigh flush dev c0");
  std::string saved = tree.read("/etc/lastgasp/sender.toml");

  ToolResult apply = run({"apply", "--retry-for", "2"});
  EXPECT_EQ(apply.status, 2) << apply.err;
  nlohmann::json targets = json_of(apply)["targets"];
  ASSERT_EQ(targets.size(), 2u) << apply.out;
  EXPECT_EQ(targets[0]["target"], "lastgasp");
  EXPECT_FALSE(targets[0].contains("error")) << apply.out;
  EXPECT_EQ(targets[1]["target"], "lastgasp-2");
  EXPECT_TRUE(contains(targets[1]["error"], "10.77.3.1")) << apply.out;
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), router.mac("r0") + "\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/enabled"), "1\n");
  EXPECT_FALSE(tree.exists(kDir + "lastgasp-2"));
  // The receiver that was away stays saved, to come back at the next apply.
  EXPECT_EQ(tree.read("/etc/lastgasp/sender.toml"), saved);
  std::string kmsg = tree.read("/dev/kmsg");
  EXPECT_TRUE(contains(kmsg, "<3>lastgasp-setup: netconsole stays off this boot: ")) << kmsg;
  EXPECT_TRUE(contains(kmsg, "target 'lastgasp-2': ")) << kmsg;

  ToolResult check = run({"check"});
  EXPECT_EQ(check.status, 1);
  EXPECT_TRUE(contains(item(json_of(check), "receivers")["value"],
                       "1 of 2 receivers ready; not ready: 10.77.3.1:7000 (target 'lastgasp-2'): saved.lastgasp-2: "))
      << check.out;

  other.ip("addr add 10.77.3.1/24 dev d0");
  ASSERT_EQ(run({"apply"}).status, 0);
  expect_both_targets();
}

TEST_F(TwoReceivers, RemoveTakesBothAwayAndRestoresEveryFileAndValue) {
  auto original = files_only(tree.snapshot());
  ASSERT_EQ(set_up_both().status, 0);
  ToolResult r = run({"remove"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json_of(r)["targets"], nlohmann::json::array({"lastgasp", "lastgasp-2"}));
  EXPECT_FALSE(tree.exists(kDir + "lastgasp"));
  EXPECT_FALSE(tree.exists(kDir + "lastgasp-2"));
  EXPECT_EQ(files_only(tree.snapshot()), original);
}

TEST_F(TwoReceivers, ARunWithFewerReceiversDropsTheOnesNoLongerGiven) {
  ASSERT_EQ(set_up_both().status, 0);
  ToolResult r = run({"netconsole", "--to", "10.77.2.2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json_of(r)["dropped"], nlohmann::json::array({"lastgasp-2"}));
  EXPECT_FALSE(tree.exists(kDir + "lastgasp-2"));
  EXPECT_TRUE(tree.exists(kDir + "lastgasp"));
  std::string saved = tree.read("/etc/lastgasp/sender.toml");
  EXPECT_FALSE(contains(saved, "lastgasp-2")) << saved;
  EXPECT_EQ(item(json_of(run({"check"})), "receivers")["value"], "1 of 1 receivers ready");
}

TEST_F(TwoReceivers, TheSameReceiverTwiceOrOneMacForBothIsBadInput) {
  auto before = tree.snapshot();
  ToolResult twice = run({"netconsole", "--to", "10.77.2.2", "--to", "10.77.2.2:6666"});
  EXPECT_EQ(twice.status, 2);
  EXPECT_TRUE(contains(twice.err, "is the receiver 10.77.2.2:6666 a second time")) << twice.err;
  ToolResult mac = run({"netconsole", "--to", "10.77.2.2", "--to", "10.77.3.1", "--mac", other.mac("d0")});
  EXPECT_EQ(mac.status, 2);
  EXPECT_TRUE(contains(mac.err, "--mac names one next hop's MAC, and there are 2 receivers")) << mac.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(TwoReceivers, DryRunShowsBothReceiversInTheSavedSettingsAndChangesNothing) {
  sh("ip netns exec " + sender.name() + " ping -c1 -W2 10.77.1.1");  // a dry run only reads the neighbour table
  sh("ip netns exec " + sender.name() + " ping -c1 -W2 10.77.3.1");
  auto before = tree.snapshot();
  ToolResult r = run_tool({"--root", tree.root().string(), "--dry-run", "netconsole", "--to", "10.77.2.2", "--to",
                           "10.77.3.1"},
                          sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
  auto last = r.out.rfind("would write /etc/lastgasp/sender.toml:");
  ASSERT_NE(last, std::string::npos) << r.out;
  std::string saved = r.out.substr(last, r.out.find("would ", last + 10) - last);
  EXPECT_TRUE(contains(saved, "name = 'lastgasp'\n")) << saved;
  EXPECT_TRUE(contains(saved, "name = 'lastgasp-2'\n")) << saved;
}

}  // namespace
}  // namespace lastgasp::setup
