// Real netlink in network namespaces the tests create: on-link, behind a
// router, IPv6, a neighbour that must be resolved first, an unreachable
// receiver, and devices netpoll cannot use. The configfs side is a fake tree
// (--root); the route, link and neighbour lookups are the kernel's.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fake_tree.hpp"
#include "netns.hpp"
#include "tool_runner.hpp"

namespace lastgasp::setup {
namespace {

using testing::connect;
using testing::FakeTree;
using testing::files_only;
using testing::json_of;
using testing::Namespace;
using testing::run_tool;
using testing::setup_args;
using testing::sh;
using testing::ToolResult;

const std::string kDir = "/sys/kernel/config/netconsole/";

// The sender and an on-link receiver: 10.77.1.2 <-> 10.77.1.1.
using OnLink = testing::OneSegment;

TEST_F(OnLink, ReceiverGetsItsOwnMacAndCheckSaysReady) {
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json report = json_of(r)["targets"][0];
  EXPECT_EQ(report["path"]["device"], "a0");
  EXPECT_EQ(report["path"]["source"], "10.77.1.2");
  EXPECT_TRUE(report["path"]["gateway"].is_null());
  EXPECT_EQ(report["path"]["mac"], receiver.mac("b0"));
  EXPECT_EQ(tree.read(kDir + "lastgasp/dev_name"), "a0\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/local_ip"), "10.77.1.2\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "10.77.1.1\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), receiver.mac("b0") + "\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/enabled"), "1\n");

  ToolResult check = run_tool(setup_args(tree, {"check"}), sender.name());
  nlohmann::json items = json_of(check);
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_TRUE(items["ready"]);
  bool mac_checked = false;
  for (const auto& item : items["items"]) {
    if (item["id"] == "target.lastgasp.mac") {
      mac_checked = true;
      EXPECT_EQ(item["state"], "ok") << item.dump();
    }
  }
  EXPECT_TRUE(mac_checked) << check.out;
}

TEST_F(OnLink, UnresolvedNeighbourIsResolvedFirst) {
  ASSERT_EQ(sender.neighbours("a0").find("10.77.1.1"), std::string::npos) << "the neighbour must start unknown";
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--no-persist"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json_of(r)["targets"][0]["path"]["mac"], receiver.mac("b0"));
  EXPECT_NE(sender.neighbours("a0").find("10.77.1.1"), std::string::npos);
}

TEST_F(OnLink, SilentReceiverFailsNamingTheNextHopAndDevice) {
  auto before = tree.snapshot();
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.50"}), sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("10.77.1.50"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("a0"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(OnLink, BroadcastOnlyWhenAllowedAndWithAWarning) {
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.50", "--allow-broadcast", "--no-persist"}),
                          sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), "ff:ff:ff:ff:ff:ff\n");
  EXPECT_NE(r.err.find("warning: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("broadcast"), std::string::npos) << r.err;
}

TEST_F(OnLink, NoRouteFailsClearly) {
  auto before = tree.snapshot();
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.99.0.1"}), sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no route to the receiver 10.99.0.1"), std::string::npos) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(OnLink, DryRunLeavesTheTreeByteIdentical) {
  sh("ip netns exec " + sender.name() + " ping -c1 -W2 10.77.1.1");  // a dry run only reads the neighbour table
  auto before = tree.snapshot();
  ToolResult r = run_tool({"--root", tree.root().string(), "--dry-run", "netconsole", "--to", "10.77.1.1"},
                          sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
  EXPECT_NE(r.out.find("would write " + kDir + "lastgasp/remote_mac: " + receiver.mac("b0")), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("would write /etc/lastgasp/sender.toml"), std::string::npos) << r.out;
}

TEST_F(OnLink, DryRunSendsNothingToResolveTheNeighbour) {
  ASSERT_EQ(sender.neighbours("a0").find("10.77.1.1"), std::string::npos) << "the neighbour must start unknown";
  auto before = tree.snapshot();
  ToolResult r = run_tool({"--root", tree.root().string(), "--dry-run", "netconsole", "--to", "10.77.1.1"},
                          sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--dry-run sends nothing"), std::string::npos) << r.err;
  // A datagram, or anything else sent to 10.77.1.1, would have made the kernel ARP for it.
  EXPECT_EQ(sender.neighbours("a0").find("10.77.1.1"), std::string::npos) << sender.neighbours("a0");
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(OnLink, FailureAfterChangesIsUndoneAndSaysSo) {
  // kernel.panic cannot be written: the target and printk, written before it, are undone.
  std::filesystem::remove(tree.path("/proc/sys/kernel/panic"));
  std::filesystem::create_directory(tree.path("/proc/sys/kernel/panic"));
  auto before = tree.snapshot();
  ToolResult r = run_tool({"--root", tree.root().string(), "netconsole", "--to", "10.77.1.1"}, sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("lastgasp-setup netconsole: cannot write '10'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nlastgasp-setup: the changes made before the failure were undone; nothing was changed\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(OnLink, NoPersistThenRemoveRestoresTargetAndValues) {
  auto original = tree.snapshot();
  ASSERT_EQ(run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--no-persist"}), sender.name()).status, 0);
  EXPECT_EQ(tree.read("/proc/sys/kernel/panic"), "10\n");
  ToolResult r = run_tool(setup_args(tree, {"remove"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json_of(r)["targets"], nlohmann::json::array({"lastgasp"}));
  EXPECT_EQ(tree.snapshot(), original);
}

TEST_F(OnLink, NoPersistThenPersistedRunThenRemoveRestoresTheOriginalValues) {
  auto original = files_only(tree.snapshot());
  ASSERT_EQ(run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--no-persist"}), sender.name()).status, 0);
  ToolResult persisted = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1"}), sender.name());
  ASSERT_EQ(persisted.status, 0) << persisted.err;
  ToolResult r = run_tool(setup_args(tree, {"remove"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json_of(r)["restored"].size(), 3u) << r.out;
  EXPECT_EQ(files_only(tree.snapshot()), original);
}

TEST_F(OnLink, SeveralReceiversAllComeBackAtBootAndCheckMissesNone) {
  receiver.ip("addr add 10.77.1.3/24 dev b0");
  ASSERT_EQ(run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1"}), sender.name()).status, 0);
  ToolResult second =
      run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.3", "--name", "second"}), sender.name());
  ASSERT_EQ(second.status, 0) << second.err;

  // A reboot: configfs and /run start empty; the unit runs apply.
  for (const char* name : {"lastgasp", "second"}) std::filesystem::remove_all(tree.path(kDir + name));
  std::filesystem::remove_all(tree.path("/run"));
  ToolResult check = run_tool(setup_args(tree, {"check"}), sender.name());
  EXPECT_EQ(check.status, 1) << check.out;
  ToolResult apply = run_tool(setup_args(tree, {"apply"}), sender.name());
  ASSERT_EQ(apply.status, 0) << apply.err;
  EXPECT_EQ(json_of(apply)["targets"].size(), 2u) << apply.out;
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "10.77.1.1\n");
  EXPECT_EQ(tree.read(kDir + "second/remote_ip"), "10.77.1.3\n");

  // Ready only while both are there.
  std::filesystem::remove_all(tree.path(kDir + "second"));
  check = run_tool(setup_args(tree, {"check"}), sender.name());
  EXPECT_EQ(check.status, 1) << check.out;
  bool missing = false;
  nlohmann::json report = json_of(check);
  for (const auto& item : report["items"])
    if (item["id"] == "saved.second") missing = item["state"] == "fail";
  EXPECT_TRUE(missing) << check.out;
}

TEST_F(OnLink, GlobalOptionsAfterTheSubcommandAndSecondRunChangesNothing) {
  ToolResult first = run_tool({"netconsole", "--to", "10.77.1.1", "--root", tree.root().string()}, sender.name());
  ASSERT_EQ(first.status, 0) << first.err;
  auto before = tree.snapshot();
  ToolResult again = run_tool({"netconsole", "--to", "10.77.1.1", "--root", tree.root().string(), "--json"},
                              sender.name());
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_FALSE(json_of(again)["changed"]);
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(OnLink, DownDeviceAndMissingCarrierAreRefused) {
  Namespace other{"oth"};
  connect(sender, "c0", other, "d0");
  other.ip("link set d0 down");
  ToolResult no_carrier = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--dev", "c0"}), sender.name());
  EXPECT_EQ(no_carrier.status, 2);
  EXPECT_NE(no_carrier.err.find("c0 has no carrier"), std::string::npos) << no_carrier.err;
  sender.ip("link set c0 down");
  ToolResult down = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--dev", "c0"}), sender.name());
  EXPECT_EQ(down.status, 2);
  EXPECT_NE(down.err.find("c0 is down"), std::string::npos) << down.err;
}

TEST_F(OnLink, TunDeviceIsRefusedAsNotEthernet) {
  sender.ip("tuntap add mode tun tun7");
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--dev", "tun7"}), sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("tun7 is not an Ethernet link (tun)"), std::string::npos) << r.err;
}

TEST_F(OnLink, WirelessDeviceIsRefused) {
  tree.write("/sys/class/net/a0/wireless/.keep", "");
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1"}), sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("a0 is a wireless device"), std::string::npos) << r.err;
}

TEST_F(OnLink, RemoveUndoesEveryFileAndValue) {
  auto original = files_only(tree.snapshot());
  ASSERT_EQ(run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1"}), sender.name()).status, 0);
  ToolResult r = run_tool(setup_args(tree, {"remove"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json removed = json_of(r);
  EXPECT_EQ(removed["targets"], nlohmann::json::array({"lastgasp"}));
  EXPECT_EQ(removed["restored"].size(), 3u) << removed.dump(2);
  EXPECT_EQ(files_only(tree.snapshot()), original);
  EXPECT_FALSE(tree.exists(kDir + "lastgasp"));
}

TEST_F(OnLink, UnresolvableHostNameIsBadInput) {
  // Inside the namespace the resolver cannot reach anything, so no query leaves the machine.
  auto before = tree.snapshot();
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "no-such-host.invalid"}), sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cannot resolve the receiver 'no-such-host.invalid'"), std::string::npos) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

TEST_F(OnLink, UnknownInterfaceIsBadInput) {
  auto before = tree.snapshot();
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--dev", "nosuch0"}), sender.name());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown interface 'nosuch0'"), std::string::npos) << r.err;
  EXPECT_EQ(tree.snapshot(), before);
}

// sender 10.77.1.2 -> router 10.77.1.1 | 10.77.2.1 -> receiver 10.77.2.2
struct BehindRouter : ::testing::Test {
  Namespace sender{"snd"}, router{"rtr"}, receiver{"rcv"};
  FakeTree tree;
  void SetUp() override {
    connect(sender, "a0", router, "r0");
    connect(router, "r1", receiver, "b0");
    sender.ip("addr add 10.77.1.2/24 dev a0");
    router.ip("addr add 10.77.1.1/24 dev r0");
    router.ip("addr add 10.77.2.1/24 dev r1");
    receiver.ip("addr add 10.77.2.2/24 dev b0");
    sender.ip("route add default via 10.77.1.1");
    receiver.ip("route add default via 10.77.2.1");
    sh("ip netns exec " + router.name() + " sysctl -qw net.ipv4.ip_forward=1");
  }
};

TEST_F(BehindRouter, MacIsTheRoutersAndAStaleOneIsCaught) {
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.2.2:7777"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json path = json_of(r)["targets"][0]["path"];
  EXPECT_EQ(path["gateway"], "10.77.1.1");
  EXPECT_EQ(path["next_hop"], "10.77.1.1");
  EXPECT_EQ(path["mac"], router.mac("r0"));
  EXPECT_NE(path["mac"], receiver.mac("b0"));
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), router.mac("r0") + "\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "10.77.2.2\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_port"), "7777\n");

  // The gateway is replaced: the target's MAC is now stale, and check says so.
  router.ip("link set r0 address 02:00:00:77:77:01");
  sender.ip("neigh flush dev a0");
  ToolResult check = run_tool(setup_args(tree, {"check"}), sender.name());
  EXPECT_EQ(check.status, 1) << check.out;
  nlohmann::json report = json_of(check);
  EXPECT_FALSE(report["ready"]);
  bool stale = false;
  for (const auto& item : report["items"])
    if (item["id"] == "target.lastgasp.mac") stale = item["state"] == "fail" && item["value"].get<std::string>().find("stale") != std::string::npos;
  EXPECT_TRUE(stale) << check.out;

  // The boot-time unit's command re-resolves and fixes it.
  ToolResult apply = run_tool(setup_args(tree, {"apply"}), sender.name());
  ASSERT_EQ(apply.status, 0) << apply.err;
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), "02:00:00:77:77:01\n");
}

TEST(Ipv6, OnLinkReceiver) {
  Namespace sender{"snd6"}, receiver{"rcv6"};
  FakeTree tree;
  connect(sender, "a0", receiver, "b0");
  sender.ip("addr add fd00:77:1::2/64 dev a0 nodad");
  receiver.ip("addr add fd00:77:1::1/64 dev b0 nodad");
  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "[fd00:77:1::1]:6667"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json path = json_of(r)["targets"][0]["path"];
  EXPECT_EQ(path["source"], "fd00:77:1::2");
  EXPECT_EQ(path["mac"], receiver.mac("b0"));
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "fd00:77:1::1\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/local_ip"), "fd00:77:1::2\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_port"), "6667\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), receiver.mac("b0") + "\n");
}

// sender fd00:77:1::2 -> router fe80::1 (link-local) | fd00:77:2::1 -> receiver fd00:77:2::2
TEST(Ipv6, BehindARouterWithALinkLocalGatewayTheMacIsTheRouters) {
  Namespace sender{"snd6r"}, router{"rtr6"}, receiver{"rcv6r"};
  FakeTree tree;
  connect(sender, "a0", router, "r0");
  connect(router, "r1", receiver, "b0");
  sender.ip("addr add fd00:77:1::2/64 dev a0 nodad");
  router.ip("addr add fe80::1/64 dev r0 nodad");
  router.ip("addr add fd00:77:1::1/64 dev r0 nodad");
  router.ip("addr add fd00:77:2::1/64 dev r1 nodad");
  receiver.ip("addr add fd00:77:2::2/64 dev b0 nodad");
  sender.ip("-6 route add default via fe80::1 dev a0");
  receiver.ip("-6 route add default via fd00:77:2::1");
  sh("ip netns exec " + router.name() + " sysctl -qw net.ipv6.conf.all.forwarding=1");

  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "[fd00:77:2::2]:6666"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json path = json_of(r)["targets"][0]["path"];
  EXPECT_EQ(path["gateway"], "fe80::1");
  EXPECT_EQ(path["mac"], router.mac("r0"));
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "fd00:77:2::2\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), router.mac("r0") + "\n");
}

TEST_F(OnLink, HostNameIsResolvedOnceAndSavedAsAnAddress) {
  // ip netns exec bind-mounts /etc/netns/NS/hosts over /etc/hosts.
  std::filesystem::path hosts_dir = "/etc/netns/" + sender.name();
  std::filesystem::create_directories(hosts_dir);
  struct RemoveDir {
    std::filesystem::path dir;
    ~RemoveDir() { std::filesystem::remove_all(dir); }
  } cleanup{hosts_dir};
  std::ofstream(hosts_dir / "hosts") << "10.77.1.1 receiver.lgst-test\n";

  ToolResult r = run_tool(setup_args(tree, {"netconsole", "--to", "receiver.lgst-test:6000"}), sender.name());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_ip"), "10.77.1.1\n");
  std::string saved = tree.read("/etc/lastgasp/sender.toml");
  EXPECT_NE(saved.find("to = '10.77.1.1:6000'"), std::string::npos) << saved;
  EXPECT_NE(saved.find("to_name = 'receiver.lgst-test'"), std::string::npos) << saved;
}

TEST(Bridge, PortIsRefusedNamingItsMasterAndTheBridgeItselfWorks) {
  Namespace sender{"sndb"}, receiver{"rcvb"};
  FakeTree tree;
  connect(sender, "a0", receiver, "b0");
  sender.ip("link add br0 type bridge");
  sender.ip("link set a0 master br0");
  sender.ip("link set br0 up");
  sender.ip("addr add 10.77.1.2/24 dev br0");
  receiver.ip("addr add 10.77.1.1/24 dev b0");

  auto before = tree.snapshot();
  ToolResult port = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1", "--dev", "a0"}), sender.name());
  EXPECT_EQ(port.status, 2);
  EXPECT_NE(port.err.find("a0 is a port of the bridge br0"), std::string::npos) << port.err;
  EXPECT_NE(port.err.find("--dev br0"), std::string::npos) << port.err;
  EXPECT_EQ(tree.snapshot(), before);

  ToolResult bridge = run_tool(setup_args(tree, {"netconsole", "--to", "10.77.1.1"}), sender.name());
  ASSERT_EQ(bridge.status, 0) << bridge.err;
  EXPECT_EQ(tree.read(kDir + "lastgasp/dev_name"), "br0\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), receiver.mac("b0") + "\n");
}

// The boot unit's `apply --retry-for`: a gateway that answers only after a
// while, as one booting after the same power cut, and one that never does.
// sender 10.77.1.2 -> default via 10.77.1.1, whose address the router gets late.
struct SlowGateway : ::testing::Test {
  Namespace sender{"sndg"}, router{"rtrg"};
  FakeTree tree;
  void SetUp() override {
    connect(sender, "a0", router, "r0");
    sender.ip("addr add 10.77.1.2/24 dev a0");
    sender.ip("route add default via 10.77.1.1");
    tree.write("/etc/lastgasp/sender.toml", "[netconsole]\nto = \"10.77.2.2:6666\"\n");
    tree.write("/dev/kmsg", "");
  }
};

TEST_F(SlowGateway, ApplyRetriesUntilTheGatewayAnswersAndSaysSoInTheKernelLog) {
  // After the first attempt's 3 s neighbour wait has failed, within the second.
  std::jthread gateway_comes_up([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(4500));
    router.ip("addr add 10.77.1.1/24 dev r0");
  });
  ToolResult r = run_tool(setup_args(tree, {"apply", "--retry-for", "30"}), sender.name());
  gateway_comes_up.join();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(tree.read(kDir + "lastgasp/remote_mac"), router.mac("r0") + "\n");
  EXPECT_EQ(tree.read(kDir + "lastgasp/enabled"), "1\n");
  std::string kmsg = tree.read("/dev/kmsg");
  EXPECT_NE(kmsg.find("<4>lastgasp-setup: netconsole: attempt 1 failed, retrying in 1 s: "), std::string::npos) << kmsg;
  EXPECT_NE(kmsg.find("10.77.1.1"), std::string::npos) << kmsg;
  EXPECT_NE(kmsg.find("<5>lastgasp-setup: netconsole: the receiver's path resolved at attempt "), std::string::npos)
      << kmsg;
  EXPECT_EQ(kmsg.find("<3>"), std::string::npos) << kmsg;
}

TEST_F(SlowGateway, ApplyGivesUpWithinTheBoundChangingNothingButTheKernelLog) {
  auto before = tree.snapshot();
  auto start = std::chrono::steady_clock::now();
  ToolResult r = run_tool(setup_args(tree, {"apply", "--retry-for", "5"}), sender.name());
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 2);
  // Two attempts of 3 s each and a 1 s wait; never much past the bound.
  EXPECT_GE(elapsed, 5.0);
  EXPECT_LT(elapsed, 12.0);
  std::string kmsg = tree.read("/dev/kmsg");
  EXPECT_NE(kmsg.find("<4>lastgasp-setup: netconsole: attempt 1 failed, retrying in 1 s: "), std::string::npos) << kmsg;
  EXPECT_NE(kmsg.find("<3>lastgasp-setup: netconsole stays off this boot: attempt 2 failed and the 5 s to retry are "
                      "over: "),
            std::string::npos)
      << kmsg;
  EXPECT_NE(r.err.find("10.77.1.1"), std::string::npos) << r.err;
  auto after = tree.snapshot();
  after["/dev/kmsg"] = before["/dev/kmsg"];
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace lastgasp::setup
