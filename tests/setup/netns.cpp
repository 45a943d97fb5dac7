#include "netns.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace lastgasp::setup::testing {

namespace {

// Namespaces left by a test binary that crashed are removed before a new run.
class StaleNamespaces : public ::testing::Environment {
 public:
  void SetUp() override {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
      std::string name = entry.path().filename();
      int pid = 0;
      if (std::sscanf(name.c_str(), "lgst-%d-", &pid) == 1 && pid != ::getpid() && ::kill(pid, 0) != 0)
        std::system(("ip netns del " + name).c_str());
    }
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new StaleNamespaces);

}  // namespace

Namespace::Namespace(const std::string& suffix) : name_("lgst-" + std::to_string(::getpid()) + "-" + suffix) {
  sh("ip netns add " + name_);
  sh("ip -n " + name_ + " link set lo up");
}

Namespace::~Namespace() { std::system(("ip netns del " + name_ + " >/dev/null 2>&1").c_str()); }

void Namespace::ip(const std::string& args) const { sh("ip -n " + name_ + " " + args); }

std::string Namespace::mac(const std::string& dev) const {
  auto links = nlohmann::json::parse(sh_output("ip -n " + name_ + " -j link show dev " + dev));
  return links.at(0).at("address");
}

std::string Namespace::neighbours(const std::string& dev) const {
  return sh_output("ip -n " + name_ + " neigh show dev " + dev);
}

void connect(const Namespace& a, const std::string& if_a, const Namespace& b, const std::string& if_b) {
  sh("ip link add " + if_a + " netns " + a.name() + " type veth peer name " + if_b + " netns " + b.name());
  a.ip("link set " + if_a + " up");
  b.ip("link set " + if_b + " up");
}

void connect_two_ways_out(const Namespace& sender, const Namespace& router, const Namespace& receiver,
                          const Namespace& other) {
  connect(sender, "a0", router, "r0");
  connect(router, "r1", receiver, "b0");
  connect(sender, "c0", other, "d0");
  sender.ip("addr add 10.77.1.2/24 dev a0");
  router.ip("addr add 10.77.1.1/24 dev r0");
  router.ip("addr add 10.77.2.1/24 dev r1");
  receiver.ip("addr add 10.77.2.2/24 dev b0");
  sender.ip("addr add 10.77.3.2/24 dev c0");
  other.ip("addr add 10.77.3.1/24 dev d0");
  sender.ip("route add default via 10.77.1.1");
  receiver.ip("route add default via 10.77.2.1");
  sh("ip netns exec " + router.name() + " sysctl -qw net.ipv4.ip_forward=1");
}

nlohmann::json json_of(const ToolResult& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << "not JSON (status " << r.status << "):\n" << r.out << "\nstderr:\n" << r.err;
    return nlohmann::json::object();
  }
}

std::vector<std::string> setup_args(const FakeTree& tree, std::vector<std::string> args) {
  args.insert(args.begin(), {"--root", tree.root().string(), "--json"});
  return args;
}

void OneSegment::SetUp() {
  connect(sender, "a0", receiver, "b0");
  sender.ip("addr add 10.77.1.2/24 dev a0");
  receiver.ip("addr add 10.77.1.1/24 dev b0");
  sender.ip("addr add fd00:77:1::2/64 dev a0 nodad");
  receiver.ip("addr add fd00:77:1::1/64 dev b0 nodad");
  receiver.ip("addr add fe80::1/64 dev b0 nodad");
}

ToolResult OneSegment::run(std::vector<std::string> args) const {
  return run_tool(setup_args(tree, std::move(args)), sender.name());
}

std::map<std::string, std::string> files_only(std::map<std::string, std::string> snapshot) {
  std::erase_if(snapshot, [](const auto& entry) { return entry.first.ends_with("/"); });
  return snapshot;
}

}  // namespace lastgasp::setup::testing
