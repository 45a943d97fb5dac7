// Several receive threads on real sockets: the kernel's steering program puts
// each source address on the socket the C++ hash names (so a host never moves
// between threads), a second receiver cannot join the group, and the daemon
// keeps every host's records whole and in order with its hosts spread over
// threads, whether it opened the sockets or systemd passed it one.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include "hosts/sender_address.hpp"
#include "net/steering.hpp"
#include "net/udp_listener.hpp"
#include "receiver_process.hpp"
#include "sinks/log_line.hpp"

namespace lastgasp {
namespace {

using namespace std::chrono_literals;
using test::read_lines;
using test::TempDir;
using test::UdpSender;

std::uint16_t port_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// Every datagram waiting on FDS, as (socket index, source address text).
std::vector<std::pair<unsigned, std::string>> drain(const std::vector<int>& fds, std::size_t expected) {
  std::vector<std::pair<unsigned, std::string>> got;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (got.size() < expected && std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> polls;
    for (int fd : fds) polls.push_back({fd, POLLIN, 0});
    ::poll(polls.data(), polls.size(), 100);
    for (unsigned i = 0; i < fds.size(); ++i) {
      char buf[64];
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      while (::recvfrom(fds[i], buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len) >= 0) {
        got.emplace_back(i, hosts::SenderAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&from), len)->text());
        len = sizeof from;
      }
    }
  }
  return got;
}

// Opens a group of THREADS sockets on ADDRESS ("127.0.0.1", "[::1]") and a free port, and sends
// three datagrams from each of SOURCES.
void expect_steered(const std::string& address, const std::vector<std::string>& sources, unsigned threads) {
  std::string target = address == "[::1]" ? "::1" : "127.0.0.1";  // "[::]" takes IPv4 too
  std::vector<int> fds =
      net::open_receive_group(address + ":" + std::to_string(test::free_port(target)), threads);
  ASSERT_EQ(fds.size(), threads);
  std::uint16_t port = port_of(fds[0]);
  for (int fd : fds) EXPECT_EQ(port_of(fd), port) << "one port for the whole group";
  for (const std::string& source : sources) {
    UdpSender sender(target, port, source);
    for (int n = 0; n < 3; ++n) sender.send("x");
  }
  auto got = drain(fds, sources.size() * 3);
  ASSERT_EQ(got.size(), sources.size() * 3);
  std::map<unsigned, int> per_socket;
  for (const auto& [socket, source] : got) {
    EXPECT_EQ(socket, net::steer(*hosts::SenderAddress::from_text(source), threads)) << source;
    ++per_socket[socket];
  }
  if (sources.size() >= 16) {
    EXPECT_EQ(per_socket.size(), threads) << "the hash spreads hosts over every thread";
  }
  for (int fd : fds) ::close(fd);
}

TEST(Steering, TheKernelPutsEachIPv4SourceOnTheSocketTheHashNames) {
  std::vector<std::string> sources;
  for (int n = 10; n < 42; ++n) sources.push_back("127.0.0." + std::to_string(n));
  expect_steered("127.0.0.1", sources, 2);
  expect_steered("127.0.0.1", sources, 3);
  expect_steered("[::]", sources, 2);  // IPv4 on a dual-stack socket: the IPv4 header's address
}

// Loopback has one IPv6 address: groups of 2 to 5 sockets, so that the kernel's own hash could
// match ours in all of them by chance once in 120 runs.
TEST(Steering, AnIPv6SourceTooOnTheSocketTheHashNames) {
  for (unsigned threads = 2; threads <= 5; ++threads) expect_steered("[::1]", {"::1"}, threads);
}

TEST(Steering, ASecondReceiverOnTheSamePortIsRefused) {
  std::vector<int> fds = net::open_receive_group("127.0.0.1:" + std::to_string(test::free_port()), 2);
  std::string taken = "127.0.0.1:" + std::to_string(port_of(fds[0]));
  for (unsigned threads : {2u, 1u}) {
    try {
      net::open_receive_group(taken, threads);
      ADD_FAILURE() << threads << " thread(s): a second group bound the port";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("Address already in use"), std::string::npos) << e.what();
    }
  }
  for (int fd : fds) ::close(fd);
}

constexpr int kHosts = 24;
constexpr int kRecords = 150;

// KHOSTS hosts each send KRECORDS records, interleaved, to PORT, a round each millisecond (a
// socket from systemd has the default receive buffer: a few hundred datagrams).
void send_fleet(std::uint16_t port) {
  std::vector<std::unique_ptr<UdpSender>> senders;
  for (int h = 0; h < kHosts; ++h)
    senders.push_back(std::make_unique<UdpSender>("127.0.0.1", port, "127.0.0." + std::to_string(50 + h)));
  for (int seq = 1; seq <= kRecords; ++seq) {
    for (int h = 0; h < kHosts; ++h)
      senders[h]->send("6," + std::to_string(seq) + "," + std::to_string(seq * 10) + ",-;host " +
                       std::to_string(h) + " record " + std::to_string(seq) + "\n");
    ::usleep(1000);
  }
}

// Every host's log holds its records, each once, in order, and nothing of ours (no gap).
void expect_fleet_whole(const std::filesystem::path& logs) {
  for (int h = 0; h < kHosts; ++h) {
    auto log = logs / ("127.0.0." + std::to_string(50 + h)) / "console.log";
    ASSERT_TRUE(test::eventually([&] { return read_lines(log).size() >= kRecords; }, 10s)) << log;
    auto lines = read_lines(log);
    ASSERT_EQ(lines.size(), std::size_t{kRecords}) << log;
    for (int seq = 1; seq <= kRecords; ++seq) {
      auto cols = sinks::split_log_line(lines[seq - 1]);
      ASSERT_TRUE(cols);
      EXPECT_EQ(cols->text, "host " + std::to_string(h) + " record " + std::to_string(seq)) << log;
    }
  }
}

// The names of PID's threads, as top -H and perf show them.
std::set<std::string> thread_names(pid_t pid) {
  std::set<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    names.insert(name);
  }
  return names;
}

TEST(Threads, EveryHostWholeAndInOrderWithHostsSpreadOverThreads) {
  TempDir dir;
  std::ofstream(dir.path() / "rx.toml") << "receive_threads = 3\n";
  std::uint16_t port = test::free_port();
  test::ReceiverProcess rx({"--config", (dir.path() / "rx.toml").string(), "--listen",
                            "127.0.0.1:" + std::to_string(port), "--log-dir", (dir.path() / "logs").string()});
  EXPECT_NE(rx.stderr_text().find("with 3 receive threads"), std::string::npos) << rx.stderr_text();
  send_fleet(port);
  expect_fleet_whole(dir.path() / "logs");
  std::set<std::string> names = thread_names(rx.pid());
  for (const char* name : {"lg-rx0", "lg-rx1", "lg-rx2", "lg-writer", "lg-opener", "lg-sync", "lg-disk"})
    EXPECT_TRUE(names.contains(name)) << name << " is not among the receiver's threads";
  EXPECT_EQ(rx.stop(SIGTERM), 0);
  EXPECT_NE(rx.stderr_text().find(std::to_string(kHosts) + " hosts, " + std::to_string(kHosts * kRecords) +
                                  " datagrams, " + std::to_string(kHosts * kRecords) + " records, 0 gaps"),
            std::string::npos)
      << rx.stderr_text();
}

// systemd passes one socket: the first thread reads it and hands the others their hosts.
TEST(Threads, OneSocketFromSystemdServesEveryThread) {
  TempDir dir;
  std::ofstream(dir.path() / "rx.toml") << "receive_threads = 3\n";
  std::uint16_t port = test::free_port();
  test::ReceiverProcess rx({"/usr/bin/systemd-socket-activate", "--datagram", "-l",
                            "127.0.0.1:" + std::to_string(port), test::kReceiverBinary, "--config",
                            (dir.path() / "rx.toml").string(), "--log-dir", (dir.path() / "logs").string()},
                           "Listening on");
  UdpSender("127.0.0.1", port, "127.0.0.99").send("6,1,10,-;wakes the daemon\n");
  ASSERT_TRUE(test::eventually([&] { return rx.stderr_text().find("listening on udp") != std::string::npos; }));
  send_fleet(port);
  expect_fleet_whole(dir.path() / "logs");
  EXPECT_NE(rx.stderr_text().find("with 3 receive threads"), std::string::npos) << rx.stderr_text();
}

}  // namespace
}  // namespace lastgasp
