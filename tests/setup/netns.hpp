// Network namespaces for the tests that need the kernel's routing and neighbour
// tables: each test builds its topology from veth pairs, and runs the real
// lastgasp-setup inside the sender's namespace against a fake tree (--root).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_tree.hpp"
#include "tool_runner.hpp"

namespace lastgasp::setup::testing {

// A network namespace that exists for the life of the object, even when a test fails.
class Namespace {
 public:
  explicit Namespace(const std::string& suffix);
  ~Namespace();
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const std::string& name() const { return name_; }
  void ip(const std::string& args) const;
  std::string mac(const std::string& dev) const;
  std::string neighbours(const std::string& dev) const;

 private:
  std::string name_;
};

// A veth pair from A's IF_A to B's IF_B, both up.
void connect(const Namespace& a, const std::string& if_a, const Namespace& b, const std::string& if_b);

// sender a0 10.77.1.2 -> ROUTER 10.77.1.1 | 10.77.2.1 -> RECEIVER 10.77.2.2 (the sender's
// default route), and sender c0 10.77.3.2 -> OTHER 10.77.3.1, a second way out.
void connect_two_ways_out(const Namespace& sender, const Namespace& router, const Namespace& receiver,
                          const Namespace& other);

// The tool's --json output, or a test failure showing what it printed instead.
nlohmann::json json_of(const ToolResult& r);

// ARGS with --root TREE --json in front.
std::vector<std::string> setup_args(const FakeTree& tree, std::vector<std::string> args);

// The sender's a0 and the receiver's b0 on one segment, IPv4 and IPv6:
// 10.77.1.2 <-> 10.77.1.1, fd00:77:1::2 <-> fd00:77:1::1, and fe80::1 on b0.
struct OneSegment : ::testing::Test {
  Namespace sender{"snd"}, receiver{"rcv"};
  FakeTree tree;
  void SetUp() override;
  // lastgasp-setup ARGS, with --root TREE --json, in the sender's namespace.
  ToolResult run(std::vector<std::string> args) const;
};

// A snapshot without its directories: the tool may leave a parent it created.
std::map<std::string, std::string> files_only(std::map<std::string, std::string> snapshot);

}  // namespace lastgasp::setup::testing
