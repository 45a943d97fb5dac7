#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "capture.hpp"
#include "netconsole_record.hpp"
#include "receiver_process.hpp"
#include "sinks/log_line.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

// Every line must split into the documented columns, whatever was sent.
void expect_well_formed(const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    auto cols = sinks::split_log_line(line);
    ASSERT_TRUE(cols) << line;
    EXPECT_EQ(cols->recv_time.size(), 27u) << line;
    EXPECT_TRUE(cols->recv_time.ends_with("Z")) << line;
    EXPECT_EQ(line.find('\0'), std::string::npos);
  }
}

std::vector<std::string> texts(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines) out.emplace_back(sinks::split_log_line(line)->text);
  return out;
}

std::size_t count_containing(const std::vector<std::string>& lines, const std::string& needle) {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.find(needle) != std::string::npos;
  return n;
}

class Receiver : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:" + std::to_string(port_), "--log-dir", logs_.path()};
    args.insert(args.end(), extra.begin(), extra.end());
    rx_ = std::make_unique<ReceiverProcess>(args);
  }
  std::filesystem::path log_of(const std::string& host) { return logs_.path() / host / "console.log"; }
  bool has_line(const std::string& host, const std::string& needle) {
    return read_file(log_of(host)).find(needle) != std::string::npos;
  }

  TempDir logs_;
  std::uint16_t port_ = free_port();
  std::unique_ptr<ReceiverProcess> rx_;
};

TEST_F(Receiver, TheRealCaptureArrivesWholeInOrderWithThePanicAndTheReboot) {
  start();
  UdpSender sender("127.0.0.1", port_);
  for (const auto& p : load_capture(data_path("capture-6.1-panic.txt"))) sender.send(p.payload);
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.1", "E2E-PSTORE: <0>[    4.578822] Kernel Offset"); }));
  EXPECT_EQ(rx_->stop(SIGTERM), 0);

  auto lines = read_lines(log_of("127.0.0.1"));
  expect_well_formed(lines);
  ASSERT_EQ(lines.size(), 454u + 2u);
  auto t = texts(lines);
  EXPECT_EQ(t[0], "E2E: hello from the guest, info level");
  EXPECT_EQ(t[2], "E2E: a line with non-ascii: caf\\xc3\\xa9 tab[\\x09] end");
  EXPECT_EQ(t[6], "Kernel panic - not syncing: sysrq triggered crash");
  EXPECT_EQ(t[7], "lastgasp: panic Kernel panic - not syncing: sysrq triggered crash");
  EXPECT_EQ(t[44], "Rebooting in 1 seconds..");
  EXPECT_TRUE(t[45].starts_with("lastgasp: reboot")) << t[45];
  EXPECT_EQ(count_containing(lines, "\tlastgasp\t"), 2u);
  EXPECT_TRUE(lines[6].find("\tkern.emerg\t372\t[    4.568770]\tKernel panic") != std::string::npos) << lines[6];

  auto incidents = logs_.path() / "127.0.0.1" / "incidents";
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(incidents)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(files[0].filename().string().ends_with("-panic.log"));
  auto incident = read_lines(files[0]);
  EXPECT_EQ(texts(incident).front(), "E2E: hello from the guest, info level") << "context before the trigger";
  EXPECT_EQ(count_containing(incident, "Kernel panic - not syncing"), 2u);
  EXPECT_EQ(count_containing(incident, "Rebooting in 1 seconds.."), 1u) << "everything after, until the reboot";
  EXPECT_EQ(count_containing(incident, "E2E-PSTORE"), 0u) << "closed at the reboot";
}

TEST_F(Receiver, LastWordsBehindAGapReachDiskWithNoFurtherPacket) {
  start();
  UdpSender sender("127.0.0.1", port_);
  for (std::uint64_t seq = 1; seq <= 5; ++seq) sender.send(ext(6, seq, seq * 100, "line " + std::to_string(seq)));
  sender.send(ext(0, 8, 900, "Kernel panic - not syncing: the very last line"));  // 6 and 7 never come
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.1", "the very last line"); }, 2000ms))
      << "held behind the gap, and nothing else arrives to push it out";
  auto t = texts(read_lines(log_of("127.0.0.1")));
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(t[5], "lastgasp: lost 2 messages (seq 6-7)");
  EXPECT_EQ(t[6], "Kernel panic - not syncing: the very last line");
  EXPECT_EQ(t[7], "lastgasp: panic Kernel panic - not syncing: the very last line");
}

TEST_F(Receiver, SigtermWritesEverythingHeld) {
  start({"--config", "/dev/null"});
  UdpSender sender("127.0.0.1", port_);
  sender.send(ext(6, 1, 100, "one"));
  sender.send(ext(6, 3, 300, "three, behind a gap"));
  sender.send("6,4,400,-,ncfrag=0/20;half a messa");  // an unfinished fragmented record
  ASSERT_TRUE(eventually([&] { return udp_queues_empty(port_); })) << "the receiver has read all three";
  EXPECT_EQ(rx_->stop(SIGTERM), 0);
  auto t = texts(read_lines(log_of("127.0.0.1")));
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0], "one");
  EXPECT_EQ(t[1], "lastgasp: lost 1 message (seq 2)");
  EXPECT_EQ(t[2], "three, behind a gap");
  EXPECT_EQ(t[3], "half a messa[lastgasp: 8 bytes missing]");
}

TEST_F(Receiver, AFullDiskIsReportedAndRetriedAndLosesNothing) {
  // The log directory is a 64 KiB tmpfs in a private mount namespace, nearly filled by FILLER.
  std::string logs = logs_.path().string();
  std::string command = "mount -t tmpfs -o size=64k none " + logs + " && head -c 57344 /dev/zero > " + logs +
                        "/filler && exec " + kReceiverBinary + " --http '' --config /dev/null --listen 127.0.0.1:" +
                        std::to_string(port_) + " --log-dir " + logs;
  ReceiverProcess rx({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", command});
  UdpSender sender("127.0.0.1", port_);
  const std::uint64_t count = 300;  // about 30 KiB of log: more than the disk has left
  for (std::uint64_t seq = 1; seq <= count; ++seq)
    sender.send(ext(6, seq, seq * 10, "a record that has to wait for room, number " + std::to_string(seq)));
  ASSERT_TRUE(eventually([&] { return rx.stderr_text().find("No space left on device") != std::string::npos; }))
      << rx.stderr_text();
  EXPECT_NE(rx.stderr_text().find("bytes held, retrying"), std::string::npos) << rx.stderr_text();

  // Room again: the receiver's own view of its mount namespace is reachable through /proc.
  auto inside = "/proc/" + std::to_string(rx.pid()) + "/root" + logs;
  std::filesystem::remove(inside + "/filler");
  auto log = std::filesystem::path(inside) / "127.0.0.1" / "console.log";
  std::string last = "number " + std::to_string(count) + "\n";
  ASSERT_TRUE(eventually([&] { return read_file(log).find(last) != std::string::npos; }, 5000ms));
  auto lines = read_lines(log);
  expect_well_formed(lines);
  auto t = texts(lines);
  ASSERT_EQ(t.size(), count) << "every record, once, and no line about losses";
  for (std::uint64_t seq = 1; seq <= count; ++seq)
    EXPECT_EQ(t[seq - 1], "a record that has to wait for room, number " + std::to_string(seq));
}

TEST_F(Receiver, TwoHostsBehindOneNatAddressKeepTheirOwnSequences) {
  start();
  UdpSender a("127.0.0.1", port_), b("127.0.0.1", port_);
  for (std::uint64_t seq = 1; seq <= 20; ++seq) {
    a.send(ext(6, seq, seq * 10, "from a " + std::to_string(seq)));
    b.send(ext(6, 5000 + seq, 900000 + seq * 10, "from b " + std::to_string(seq)));
  }
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.1", "from a 20") && has_line("127.0.0.1", "from b 20"); }));
  rx_->stop(SIGTERM);
  auto lines = read_lines(log_of("127.0.0.1"));
  EXPECT_EQ(lines.size(), 40u) << "no gap, reboot or duplicate lines: the streams never share a sequence";
  EXPECT_EQ(count_containing(lines, "\tsrc=" + std::to_string(b.local_port())), 20u);
  EXPECT_EQ(count_containing(lines, "\tsrc=" + std::to_string(a.local_port())), 20u)
      << "a's first record waits the reorder window, as every stream's first does, and b is known by then";
}

TEST_F(Receiver, DualStackListenerUnmapsIPv4AndTakesIPv6) {
  rx_ = std::make_unique<ReceiverProcess>(
      std::vector<std::string>{"--listen", "[::]:" + std::to_string(port_), "--log-dir", logs_.path()});
  UdpSender v4("127.0.0.1", port_), v6("::1", port_);
  v4.send(ext(6, 1, 1, "over ipv4"));
  v6.send(ext(6, 1, 1, "over ipv6"));
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.1", "over ipv4") && has_line("__1", "over ipv6"); }));
}

TEST_F(Receiver, ARestartCarriesOnWithoutFalseGapsAndKeepsHistory) {
  start();
  {
    UdpSender sender("127.0.0.1", port_, "127.0.0.1", free_port());
    for (std::uint64_t seq = 1; seq <= 3; ++seq) sender.send(ext(6, seq, seq * 100, "before"));
    ASSERT_TRUE(eventually([&] { return read_lines(log_of("127.0.0.1")).size() == 3; }));
  }
  rx_->stop(SIGTERM);
  start();
  UdpSender sender("127.0.0.1", port_);
  for (std::uint64_t seq = 4; seq <= 6; ++seq) sender.send(ext(6, seq, seq * 100, "after"));
  ASSERT_TRUE(eventually([&] { return read_lines(log_of("127.0.0.1")).size() >= 6; }));
  rx_->stop(SIGTERM);
  auto t = texts(read_lines(log_of("127.0.0.1")));
  EXPECT_EQ(t, (std::vector<std::string>{"before", "before", "before", "after", "after", "after"}));
}

TEST_F(Receiver, MalformedInputIsCountedAndNeverBreaksTheLog) {
  start();
  UdpSender sender("127.0.0.1", port_);
  sender.send(ext(6, 1, 1, "good one"));
  sender.send(std::string(65000, '\0'));
  std::string garbage(60000, 'x');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 7919 % 251);
  sender.send(garbage);
  sender.send("6,99999999999999999999999999,1,-;overflow\n");
  sender.send("6,2,2,-,ncfrag=0/5000000;huge total\n");
  sender.send("6,2,2,-,ncfrag=900/10;past the end\n");
  sender.send(std::string("6,2,2,-;nul\0inside\ttab\n", 23));
  sender.send(ext(6, 3, 3, "good two"));
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.1", "good two"); }));
  EXPECT_EQ(rx_->stop(SIGTERM), 0);
  auto lines = read_lines(log_of("127.0.0.1"));
  expect_well_formed(lines);
  EXPECT_EQ(count_containing(lines, "nul\\x00inside\\x09tab"), 1u);
  EXPECT_EQ(count_containing(lines, "6,99999999999999999999999999,1,-;overflow"), 1u);
}

TEST_F(Receiver, ConfigNamesHostsAndNoSenderCanChooseAPath) {
  TempDir cfg_dir;
  std::ofstream(cfg_dir.path() / "rx.toml") << "[hosts]\n\"127.0.0.2\" = \"web1\"\n\"127.0.0.3\" = \"../../etc\"\n";
  start({"--config", (cfg_dir.path() / "rx.toml").string()});
  UdpSender named("127.0.0.1", port_, "127.0.0.2"), evil("127.0.0.1", port_, "127.0.0.3");
  named.send(ext(6, 1, 1, "hello from web1"));
  evil.send(ext(6, 1, 1, "../../../tmp/owned"));
  ASSERT_TRUE(eventually([&] { return has_line("web1", "hello from web1"); }));
  ASSERT_TRUE(eventually([&] { return has_line("_.._.._etc", "owned"); }));
  for (auto& e : std::filesystem::recursive_directory_iterator(logs_.path()))
    EXPECT_TRUE(e.path().string().starts_with(logs_.path().string()));
}

TEST_F(Receiver, AnExistingLogIsAppendedToNeverTruncated) {
  std::filesystem::create_directories(logs_.path() / "127.0.0.1");
  std::ofstream(log_of("127.0.0.1")) << "earlier history\n";
  start();
  UdpSender sender("127.0.0.1", port_);
  sender.send(ext(6, 1, 1, "new line"));
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.1", "new line"); }));
  EXPECT_TRUE(read_file(log_of("127.0.0.1")).starts_with("earlier history\n"));
}

TEST_F(Receiver, HostsAreCappedAndIdleOnesEvictedThenResumedFromTheirLog) {
  TempDir cfg_dir;
  std::ofstream(cfg_dir.path() / "rx.toml") << "max_hosts = 2\nstream_idle_s = 1\n";
  start({"--config", (cfg_dir.path() / "rx.toml").string()});
  UdpSender a("127.0.0.1", port_, "127.0.0.2"), b("127.0.0.1", port_, "127.0.0.3"), c("127.0.0.1", port_, "127.0.0.4");
  a.send(ext(6, 1, 100, "a1"));
  b.send(ext(6, 1, 100, "b1"));
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.2", "a1") && has_line("127.0.0.3", "b1"); }));
  c.send(ext(6, 1, 100, "c1, over the cap"));
  ASSERT_TRUE(eventually([&] { return rx_->stderr_text().find("1 over max_hosts") != std::string::npos; },
                         5000ms))
      << rx_->stderr_text();
  EXPECT_FALSE(std::filesystem::exists(logs_.path() / "127.0.0.4"));
  // Refused until a and b, idle for stream_idle_s, are let go; then taken, and its repeats dropped.
  ASSERT_TRUE(eventually([&] {
    c.send(ext(6, 1, 100, "c1, room now"));
    return has_line("127.0.0.4", "room now");
  }, 10'000ms)) << rx_->stderr_text();
  // a and b go in the same housekeeping pass, or in two a second apart: until b has gone too, a
  // is refused as c was. Its repeats, once it is in, are duplicates and dropped.
  ASSERT_TRUE(eventually([&] {
    a.send(ext(6, 2, 200, "a2"));
    return has_line("127.0.0.4", "room now") && has_line("127.0.0.2", "a2");
  }, 10'000ms)) << rx_->stderr_text();
  EXPECT_EQ(texts(read_lines(log_of("127.0.0.2"))), (std::vector<std::string>{"a1", "a2"}))
      << "an evicted host resumes from its log: no gap, no reboot";
}

TEST_F(Receiver, PortsPastTheCapAreDroppedAndCountedUnderTheirHost) {
  TempDir cfg_dir;
  std::ofstream(cfg_dir.path() / "rx.toml") << "max_streams_per_host = 2\n";
  start({"--config", (cfg_dir.path() / "rx.toml").string()});
  UdpSender a("127.0.0.1", port_, "127.0.0.2"), b("127.0.0.1", port_, "127.0.0.2"), c("127.0.0.1", port_, "127.0.0.2");
  a.send(ext(6, 1, 100, "from port a"));
  b.send(ext(6, 1, 100, "from port b"));
  ASSERT_TRUE(eventually([&] { return has_line("127.0.0.2", "port a") && has_line("127.0.0.2", "port b"); }));
  for (int i = 0; i < 3; ++i) c.send(ext(6, 1 + i, 100 + i, "from port c, past the cap"));
  ASSERT_TRUE(eventually([&] { return rx_->stderr_text().find("3 ports over max_streams_per_host") != std::string::npos; },
                         5000ms))
      << rx_->stderr_text();
  EXPECT_FALSE(has_line("127.0.0.2", "past the cap"));
  ASSERT_EQ(rx_->stop(), 0);
  EXPECT_NE(rx_->stderr_text().find("held: 1 hosts, 2 streams, 0 fragment bytes, 0 upload bytes"), std::string::npos)
      << rx_->stderr_text();
  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "--log-dir", logs_.path().string(), "--json"}, out), 0) << out;
  auto hosts = nlohmann::json::parse(out.substr(out.find('[')));
  ASSERT_EQ(hosts.size(), 1u) << out;
  EXPECT_EQ(hosts[0]["dropped"]["ports_over_cap"], 3) << out;
}

TEST(CheckConfig, ValidatesAndNamesTheLineOfAnError) {
  TempDir dir;
  std::ofstream(dir.path() / "good.toml") << "listen = [\"127.0.0.1:7000\"]\nlog_dir = \"/tmp/x\"\n";
  std::ofstream(dir.path() / "bad.toml") << "listen = [\"127.0.0.1:7000\"]\nreorder_windw_ms = 5\n";
  std::string out;
  EXPECT_EQ(run_command({kReceiverBinary, "check-config", (dir.path() / "good.toml").string()}, out), 0) << out;
  EXPECT_EQ(run_command({kReceiverBinary, "check-config", (dir.path() / "bad.toml").string()}, out), 2);
  EXPECT_NE(out.find("bad.toml:2:1: key 'reorder_windw_ms': unknown key"), std::string::npos) << out;
}

TEST(CommandLine, ABadListenAddressIsBadUsage) {
  std::string out;
  EXPECT_EQ(run_command({kReceiverBinary, "--listen", "nonsense"}, out), 2);
  EXPECT_NE(out.find("'nonsense': missing ':PORT'"), std::string::npos) << out;
  EXPECT_EQ(run_command({kReceiverBinary, "--listen", "127.0.0.1:70000"}, out), 2);
  EXPECT_NE(out.find("port must be a number from 1 to 65535"), std::string::npos) << out;
  EXPECT_EQ(run_command({kReceiverBinary, "--listen", "receiver.example:6666"}, out), 2);
  EXPECT_NE(out.find("the address must be numeric"), std::string::npos) << out;  // CLI11's own errors too, named as ours are.
  EXPECT_EQ(run_command({kReceiverBinary, "tail", "--no-such-option"}, out), 2);
  EXPECT_EQ(out.rfind("lastgasp-receiver: ", 0), 0u) << out;
  EXPECT_NE(out.find("--no-such-option"), std::string::npos) << out;
}

// Socket activation with a UDP socket alone (systemd-socket-activate plays PID 1): the daemon
// says that collect and verify cannot reach it, and which settings of its config the unit overrides.
TEST(SocketActivation, SaysWhatTheSocketUnitOverridesAndWhatCannotWork) {
  std::uint16_t port = free_port();
  TempDir dir;
  std::ofstream(dir.path() / "receiver.toml") << "listen = [\"127.0.0.1:1\"]\nreceive_buffer = \"1M\"\n";
  ReceiverProcess rx({"/usr/bin/systemd-socket-activate", "--datagram", "-l", "127.0.0.1:" + std::to_string(port),
                      kReceiverBinary, "--http", "", "--config", (dir.path() / "receiver.toml").string(), "--log-dir",
                      (dir.path() / "logs").string()},
                     "Listening on");
  UdpSender("127.0.0.1", port).send(ext(6, 1, 10, "wakes the receiver"));
  ASSERT_TRUE(eventually([&] { return rx.stderr_text().find("wakes the receiver") != std::string::npos ||
                                      read_file(dir.path() / "logs" / "127.0.0.1" / "console.log").find("wakes") !=
                                          std::string::npos; }, 10'000ms))
      << rx.stderr_text();
  std::string err = rx.stderr_text();
  EXPECT_NE(err.find("sockets from systemd: ignoring listen receive_buffer"), std::string::npos) << err;
  EXPECT_NE(err.find("systemd passed no TCP socket"), std::string::npos) << err;
  EXPECT_EQ(rx.stop(SIGTERM), 0);
}

// The real reason when the port is taken (it once said "Success": errno read too late), and who may hold it.
TEST(CommandLine, APortTakenSaysSoAndWhoMayHoldIt) {
  std::uint16_t port = free_port();
  UdpSender holder("127.0.0.1", 9, "127.0.0.1", port);
  TempDir logs;
  std::string out;
  EXPECT_EQ(run_command({kReceiverBinary, "--listen", "127.0.0.1:" + std::to_string(port), "--log-dir",
                         logs.path().string(), "--http", ""},
                        out),
            1);
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use"),
            std::string::npos) << out;
  EXPECT_NE(out.find("lastgasp-receiver.socket"), std::string::npos) << out;
  EXPECT_NE(out.find("ss -ulpn sport = :" + std::to_string(port)), std::string::npos) << out;
}

}  // namespace
}  // namespace lastgasp::test
