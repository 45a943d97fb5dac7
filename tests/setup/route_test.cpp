// The route and next hop as the kernel decides them, in network namespaces:
// where lastgasp-setup must refuse rather than write a target that a panic
// would not get through (ARP off, multicast, broadcast, a --dev that does not
// reach the receiver, a device that is down), where it must follow the kernel
// (a policy rule on the source), and `check` failing each of them later.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
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
using testing::json_of;
using testing::Namespace;
using testing::run_tool;
using testing::setup_args;
using testing::sh;
using testing::ToolResult;

const std::string kTarget = "/sys/kernel/config/netconsole/lastgasp/";
// Well under the 3 s the tool waits for a neighbour: the answer must not come from waiting.
constexpr auto kAtOnce = std::chrono::milliseconds(2000);

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

// check's item ID, or null when check did not report it.
nlohmann::json item(const nlohmann::json& report, const std::string& id) {
  for (const auto& i : report.value("items", nlohmann::json::array()))
    if (i["id"] == id) return i;
  return nullptr;
}

struct Timed {
  ToolResult result;
  std::chrono::milliseconds took;
};

// One segment, with what these tests ask of the tool's answers.
struct Segment : testing::OneSegment {
  Timed timed(std::vector<std::string> args) {
    auto start = std::chrono::steady_clock::now();
    ToolResult result = run(std::move(args));
    return {result, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)};
  }
  // check's MAC item for the target, after asserting that check is not ready because of it.
  nlohmann::json failing_mac_item() {
    ToolResult check = run({"check"});
    nlohmann::json report = json_of(check);
    EXPECT_EQ(check.status, 1) << check.out;
    EXPECT_FALSE(report["ready"]) << check.out;
    nlohmann::json mac = item(report, "target.lastgasp.mac");
    EXPECT_EQ(mac["state"], "fail") << check.out;
    return mac;
  }
  void expect_refused(const ToolResult& r, const std::string& needle) {
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, needle)) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(contains(r.err, "Unspecific failure")) << r.err;
  }
};

using ArpOff = Segment;

TEST_F(ArpOff, TheNoarpEntryIsRefusedAtOnceAskingForMac) {
  sender.ip("link set a0 arp off");
  auto before = tree.snapshot();
  for (const char* to : {"10.77.1.1", "[fd00:77:1::1]"}) {
    Timed r = timed({"netconsole", "--to", to});
    expect_refused(r.result, "ARP is off on a0");
    EXPECT_TRUE(contains(r.result.err, "--mac")) << r.result.err;
    EXPECT_LT(r.took, kAtOnce) << to;
  }
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(ArpOff, DryRunSaysArpIsOffRatherThanAskingForAPing) {
  sender.ip("link set a0 arp off");
  auto before = tree.snapshot();
  ToolResult r = run_tool({"--root", tree.root().string(), "--dry-run", "netconsole", "--to", "10.77.1.1"},
                          sender.name());
  expect_refused(r, "ARP is off on a0");
  EXPECT_TRUE(contains(r.err, "--mac")) << r.err;
  EXPECT_FALSE(contains(r.err, "ping")) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(ArpOff, GivenMacIsWrittenPersistedAndAcceptedByCheckAndApply) {
  sender.ip("link set a0 arp off");
  std::string mac = receiver.mac("b0");
  ToolResult r = run({"netconsole", "--to", "10.77.1.1", "--mac", upper(mac)});
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json path = json_of(r)["targets"][0]["path"];
  EXPECT_EQ(path["mac"], mac);
  EXPECT_EQ(path["mac_origin"], "given");
  EXPECT_EQ(tree.read(kTarget + "remote_mac"), mac + "\n");
  std::string saved = tree.read("/etc/lastgasp/sender.toml");
  EXPECT_TRUE(contains(saved, "mac = '" + mac + "'")) << saved;

  ToolResult check = run({"check"});
  nlohmann::json report = json_of(check);
  EXPECT_EQ(check.status, 0) << check.out;
  nlohmann::json mac_item = item(report, "target.lastgasp.mac");
  EXPECT_EQ(mac_item["state"], "ok") << check.out;
  EXPECT_TRUE(contains(mac_item["value"], "given with --mac")) << mac_item.dump();

  // The boot-time unit keeps the given MAC rather than failing on ARP.
  ToolResult apply = run({"apply"});
  ASSERT_EQ(apply.status, 0) << apply.err;
  EXPECT_EQ(tree.read(kTarget + "remote_mac"), mac + "\n");
}

TEST_F(ArpOff, CheckFailsANoarpNextHopAndTheDevicesOwnMac) {
  ASSERT_EQ(run({"netconsole", "--to", "10.77.1.1"}).status, 0);
  sender.ip("link set a0 arp off");
  sender.ip("neigh flush dev a0");
  EXPECT_TRUE(contains(failing_mac_item()["value"], "ARP is off on a0"));

  // What earlier versions wrote on such a link: the sender's own MAC.
  tree.write(kTarget + "remote_mac", sender.mac("a0") + "\n");
  sender.ip("link set a0 arp on");
  EXPECT_TRUE(contains(failing_mac_item()["value"], "a0's own MAC"));
}

TEST_F(ArpOff, AStaticNeighbourEntryIsTheNextHopsMac) {
  sender.ip("link set a0 arp off");
  sender.ip("neigh replace 10.77.1.1 lladdr " + receiver.mac("b0") + " dev a0 nud permanent");
  ToolResult r = run({"netconsole", "--to", "10.77.1.1", "--no-persist"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json_of(r)["targets"][0]["path"]["mac_origin"], "neighbour");
  EXPECT_EQ(tree.read(kTarget + "remote_mac"), receiver.mac("b0") + "\n");
  EXPECT_EQ(item(json_of(run({"check"})), "target.lastgasp.mac")["state"], "ok");
}

using GivenMac = Segment;

TEST_F(GivenMac, TheDevicesOwnOrOneTheNextHopDisputesIsRefused) {
  auto before = tree.snapshot();
  expect_refused(run({"netconsole", "--to", "10.77.1.1", "--mac", sender.mac("a0")}), "a0's own MAC");
  sh("ip netns exec " + sender.name() + " ping -c1 -W2 10.77.1.1");
  expect_refused(run({"netconsole", "--to", "10.77.1.1", "--mac", "02:00:00:00:00:99"}),
                 "answers as " + receiver.mac("b0"));
  EXPECT_EQ(tree.snapshot(), before);
}

using Multicast = Segment;

TEST_F(Multicast, GroupsAreRefusedEvenWithARouteToThem) {
  sender.ip("route add default via 10.77.1.1");
  sender.ip("-6 route add default via fd00:77:1::1");
  auto before = tree.snapshot();
  for (const char* to : {"239.1.2.3", "224.0.0.1", "[ff05::1]", "ff02::1"})
    expect_refused(run({"netconsole", "--to", to}), "is a multicast address");
  EXPECT_EQ(tree.snapshot(), before);
}

using Broadcast = Segment;

TEST_F(Broadcast, SubnetAndLimitedBroadcastAreRefusedAtOnce) {
  auto before = tree.snapshot();
  for (const char* to : {"10.77.1.255", "255.255.255.255"}) {
    Timed r = timed({"netconsole", "--to", to, "--allow-broadcast"});
    expect_refused(r.result, "is a broadcast address");
    EXPECT_LT(r.took, kAtOnce) << to;
  }
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(Segment, CheckFailsATargetSendingToBroadcastOrMulticast) {
  ASSERT_EQ(run({"netconsole", "--to", "10.77.1.1"}).status, 0);
  tree.write(kTarget + "remote_ip", "10.77.1.255\n");
  EXPECT_TRUE(contains(failing_mac_item()["value"], "is a broadcast address"));
  tree.write(kTarget + "remote_ip", "239.1.2.3\n");
  EXPECT_TRUE(contains(failing_mac_item()["value"], "is a multicast address"));
}

TEST_F(Segment, NoRouteNamesTheDeviceThatIsDownAndNotOneThatIsUnplugged) {
  // c0 without carrier keeps its routes: it explains nothing, like an idle docker0.
  Namespace other{"oth"};
  connect(sender, "c0", other, "d0");
  sender.ip("addr add 10.77.5.2/24 dev c0");
  other.ip("link set d0 down");
  sender.ip("link set a0 down");
  ToolResult r = run({"netconsole", "--to", "10.77.1.1"});
  expect_refused(r, "no route to the receiver 10.77.1.1: device a0 is down");
  EXPECT_FALSE(contains(r.err, "c0")) << r.err;
}

TEST_F(Segment, NoRouteGivesTheKernelsReason) {
  expect_refused(run({"netconsole", "--to", "10.99.0.1"}), "no route to the receiver 10.99.0.1 (Network is unreachable)");
}

TEST_F(Segment, BareIpv6AddressTakesTheDefaultPort) {
  ToolResult r = run({"netconsole", "--to", "fd00:77:1::1", "--no-persist"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.read(kTarget + "remote_ip"), "fd00:77:1::1\n");
  EXPECT_EQ(tree.read(kTarget + "remote_port"), "6666\n");
  EXPECT_EQ(tree.read(kTarget + "remote_mac"), receiver.mac("b0") + "\n");
}

TEST_F(Segment, ZoneOfALinkLocalReceiverNamesTheDevice) {
  ToolResult r = run({"netconsole", "--to", "fe80::1%a0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.read(kTarget + "dev_name"), "a0\n");
  EXPECT_EQ(tree.read(kTarget + "remote_ip"), "fe80::1\n");
  EXPECT_EQ(tree.read(kTarget + "remote_mac"), receiver.mac("b0") + "\n");
  std::string saved = tree.read("/etc/lastgasp/sender.toml");
  EXPECT_TRUE(contains(saved, "dev = 'a0'")) << saved;
  EXPECT_TRUE(contains(saved, "to = '[fe80::1]:6666'")) << saved;

  ToolResult with_port = run({"netconsole", "--to", "[fe80::1%a0]:7000"});
  ASSERT_EQ(with_port.status, 0) << with_port.err;
  EXPECT_EQ(tree.read(kTarget + "remote_port"), "7000\n");
  EXPECT_EQ(json_of(run({"check"}))["ready"], true);
}

// sender a0 10.77.1.2 -> router 10.77.1.1 | 10.77.2.1 -> receiver 10.77.2.2, and
// sender c0 10.77.3.2 -> other 10.77.3.1, a second way out.
struct TwoWaysOut : ::testing::Test {
  Namespace sender{"snd"}, router{"rtr"}, receiver{"rcv"}, other{"oth"};
  FakeTree tree;
  void SetUp() override {
    connect_two_ways_out(sender, router, receiver, other);
  }
  ToolResult run(std::vector<std::string> args) { return run_tool(setup_args(tree, std::move(args)), sender.name()); }
};

TEST_F(TwoWaysOut, DevThatDoesNotReachTheReceiverIsSaidAtOnceWithTheRoute) {
  auto before = tree.snapshot();
  auto start = std::chrono::steady_clock::now();
  ToolResult r = run({"netconsole", "--to", "10.77.2.2", "--dev", "c0"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, kAtOnce);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "the receiver 10.77.2.2 is not reachable through c0 (the route goes via 10.77.1.1 on a0)"))
      << r.err;
  EXPECT_FALSE(contains(r.err, "--allow-broadcast")) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(TwoWaysOut, CheckFailsWhenTheRouteLeavesTheTargetsDevice) {
  ASSERT_EQ(run({"netconsole", "--to", "10.77.2.2"}).status, 0);
  EXPECT_EQ(tree.read(kTarget + "dev_name"), "a0\n");
  sender.ip("route replace default via 10.77.3.1 dev c0");
  ToolResult check = run({"check"});
  EXPECT_EQ(check.status, 1) << check.out;
  nlohmann::json mac = item(json_of(check), "target.lastgasp.mac");
  EXPECT_EQ(mac["state"], "fail") << check.out;
  EXPECT_TRUE(contains(mac["value"], "not reachable through a0 (the route goes via 10.77.3.1 on c0)")) << mac.dump();
}

TEST_F(TwoWaysOut, PolicyRuleOnTheChosenSourceDecidesTheWayOut) {
  // The main table says a0; traffic from a0's address is routed by table 100, out of c0.
  sender.ip("rule add from 10.77.1.2 lookup 100");
  sender.ip("route add default via 10.77.3.1 dev c0 table 100");
  ToolResult r = run({"netconsole", "--to", "10.77.2.2"});
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json path = json_of(r)["targets"][0]["path"];
  EXPECT_EQ(path["device"], "c0");
  EXPECT_EQ(path["source"], "10.77.1.2");
  EXPECT_EQ(path["gateway"], "10.77.3.1");
  EXPECT_EQ(path["mac"], other.mac("d0"));
  EXPECT_EQ(tree.read(kTarget + "dev_name"), "c0\n");
  EXPECT_EQ(tree.read(kTarget + "remote_mac"), other.mac("d0") + "\n");

  ToolResult check = run({"check"});
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_EQ(item(json_of(check), "target.lastgasp.mac")["state"], "ok") << check.out;
}

TEST_F(TwoWaysOut, DryRunSendsNoProbeFromTheChosenSourceEither) {
  sender.ip("rule add from 10.77.1.2 lookup 100");
  sender.ip("route add default via 10.77.3.1 dev c0 table 100");
  auto before = tree.snapshot();
  ToolResult r = run_tool({"--root", tree.root().string(), "--dry-run", "netconsole", "--to", "10.77.2.2"},
                          sender.name());
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "the MAC of 10.77.3.1 on c0 is not in the neighbour table yet")) << r.err;
  EXPECT_TRUE(contains(r.err, "--dry-run sends nothing")) << r.err;
  // A datagram from the source, down either way out, would have made the kernel resolve its next hop.
  EXPECT_FALSE(contains(sender.neighbours("c0"), "10.77.3.1")) << sender.neighbours("c0");
  EXPECT_FALSE(contains(sender.neighbours("a0"), "10.77.1.1")) << sender.neighbours("a0");
  EXPECT_EQ(tree.snapshot(), before);

  // With the MAC given there is nothing to resolve: the dry run goes through, still sending nothing.
  ToolResult given = run_tool({"--root", tree.root().string(), "--dry-run", "netconsole", "--to", "10.77.2.2",
                               "--mac", other.mac("d0")},
                              sender.name());
  EXPECT_EQ(given.status, 0) << given.err;
  EXPECT_TRUE(contains(given.out, "would write /etc/lastgasp/sender.toml")) << given.out;
  EXPECT_FALSE(contains(sender.neighbours("c0"), "10.77.3.1")) << sender.neighbours("c0");
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(TwoWaysOut, EachSavedTargetKeepsItsOwnMacAndApplyUsesIt) {
  // c0 cannot learn a MAC: the second target's is given; the first's is the kernel's.
  sender.ip("link set c0 arp off");
  ASSERT_EQ(run({"netconsole", "--to", "10.77.2.2"}).status, 0);
  ToolResult second = run({"netconsole", "--to", "10.77.3.1", "--name", "second", "--mac", other.mac("d0")});
  ASSERT_EQ(second.status, 0) << second.err;
  std::string saved = tree.read("/etc/lastgasp/sender.toml");
  auto second_table = saved.find("name = 'second'");
  ASSERT_NE(second_table, std::string::npos) << saved;
  auto mac_line = saved.find("mac = '" + other.mac("d0") + "'");
  ASSERT_NE(mac_line, std::string::npos) << saved;
  EXPECT_EQ(saved.find("mac = "), mac_line) << "only the second target has a MAC:\n" << saved;
  EXPECT_EQ(saved.rfind("[[netconsole]]", mac_line), saved.rfind("[[netconsole]]", second_table)) << saved;

  // A reboot: configfs and /run start empty; the unit runs apply.
  for (const char* name : {"lastgasp", "second"})
    std::filesystem::remove_all(tree.path("/sys/kernel/config/netconsole/" + std::string(name)));
  std::filesystem::remove_all(tree.path("/run"));
  ToolResult apply = run({"apply"});
  ASSERT_EQ(apply.status, 0) << apply.err;
  nlohmann::json targets = json_of(apply)["targets"];
  ASSERT_EQ(targets.size(), 2u) << apply.out;
  EXPECT_EQ(targets[0]["path"]["mac_origin"], "neighbour") << apply.out;
  EXPECT_EQ(targets[1]["path"]["mac_origin"], "given") << apply.out;
  EXPECT_EQ(tree.read(kTarget + "remote_mac"), router.mac("r0") + "\n");
  EXPECT_EQ(tree.read("/sys/kernel/config/netconsole/second/remote_mac"), other.mac("d0") + "\n");

  ToolResult check = run({"check"});
  EXPECT_EQ(check.status, 0) << check.out;
  nlohmann::json report = json_of(check);
  EXPECT_EQ(item(report, "target.lastgasp.mac")["state"], "ok") << check.out;
  nlohmann::json given = item(report, "target.second.mac");
  EXPECT_EQ(given["state"], "ok") << check.out;
  EXPECT_TRUE(contains(given["value"], "given with --mac")) << given.dump();
}

}  // namespace
}  // namespace lastgasp::setup
