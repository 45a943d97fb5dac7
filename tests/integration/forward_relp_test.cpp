// Forwarding over RELP to a real rsyslogd with imrelp (Debian's rsyslog-relp) on
// loopback: every record arrives once, in order, with its host, facility and
// severity; rsyslog killed with SIGKILL mid-stream and started again loses
// nothing, and what it gets twice is at most a RELP window per broken session,
// each copy with the same identity; and the daemon's spool, full while rsyslog is
// away, drops the oldest, counts them in /metrics, while the logs keep everything.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <thread>

#include "certificates.hpp"
#include "forward/forwarder.hpp"
#include "forward/relp_link.hpp"
#include "kernel_event.hpp"
#include "receiver_process.hpp"
#include "rsyslog.hpp"
#include "tcp_client.hpp"

namespace lastgasp::forward {
namespace {

using namespace std::chrono_literals;
using test::kernel_record;
using test::Rsyslog;

const std::string kRelpModule = "module(load=\"imrelp\")";

config::Forward relp_to(std::uint16_t port) {
  config::Forward s;
  s.name = "central";
  s.protocol = config::Forward::Protocol::relp;
  s.host = "127.0.0.1";
  s.port = port;
  return s;
}

std::string text_of(std::uint64_t seq) { return "record " + std::to_string(seq) + " of web-1"; }

void send(Forwarder& f, std::uint64_t first, std::uint64_t last) {
  for (std::uint64_t seq = first; seq <= last; ++seq) f.write("web-1", 2, std::nullopt, kernel_record(seq, text_of(seq)));
}

// seq="N" in the structured data: the record's identity with the host and boot.
std::uint64_t seq_of(const test::SyslogLine& line) {
  auto at = line.sd.find("seq=\"");
  return at == std::string::npos ? 0 : std::stoull(line.sd.substr(at + 5));
}

TEST(ForwardRelp, EveryRecordArrivesOnceInOrderWithItsHostFacilityAndSeverity) {
  test::TempDir dir;
  auto port = test::free_port();
  Rsyslog rsyslog(dir.path() / "rsyslog", port, kRelpModule, "imrelp");
  Forwarder f(relp_to(port), dir.path() / "spool");
  send(f, 1, 500);
  f.write("web-1", 2, std::nullopt, kernel_record(501, "disk sda: I/O error", 3 * 8 + 3));  // daemon.err
  f.write("web-1", 2, std::nullopt, kernel_record(502, "Kernel panic - not syncing: sysrq triggered crash", 0));
  ASSERT_TRUE(test::eventually([&] { return rsyslog.lines().size() >= 502; }, 20s)) << rsyslog.lines().size();
  auto lines = rsyslog.lines();
  ASSERT_EQ(lines.size(), 502u);
  for (std::uint64_t i = 0; i < 500; ++i) {
    EXPECT_EQ(lines[i].msg, text_of(i + 1));
    EXPECT_EQ(seq_of(lines[i]), i + 1);
    EXPECT_EQ(lines[i].host, "web-1");
    EXPECT_EQ(lines[i].app, "kernel");
    EXPECT_EQ(lines[i].pri, "6");  // kern.info
  }
  EXPECT_EQ(lines[500].pri, "27");
  EXPECT_EQ(lines[501].pri, "0");
  EXPECT_EQ(lines[501].msg, "Kernel panic - not syncing: sysrq triggered crash");
  // Acknowledged, the last window by closing the session once the spool ran dry.
  EXPECT_TRUE(test::eventually([&] { return f.counters().sent == 502; }, 5s)) << f.counters().sent;
  EXPECT_EQ(f.counters().queued_bytes, 0u);
  EXPECT_EQ(f.counters().connect_errors, 0u);
}

TEST(ForwardRelp, RsyslogKilledAndRestartedMidStreamLosesNothing) {
  constexpr std::uint64_t kRecords = 20000;
  test::TempDir dir;
  auto port = test::free_port();
  Rsyslog rsyslog(dir.path() / "rsyslog", port, kRelpModule, "imrelp");
  Forwarder f(relp_to(port), dir.path() / "spool");
  std::thread writer([&] {  // the stream goes on across the kill
    for (std::uint64_t seq = 1; seq <= kRecords; seq += 100) {
      send(f, seq, seq + 99);
      std::this_thread::sleep_for(2ms);
    }
  });
  bool midway = test::eventually([&] { return rsyslog.lines().size() >= 2000; }, 20s);
  rsyslog.kill();
  std::size_t before_kill = rsyslog.lines().size();
  writer.join();
  ASSERT_TRUE(midway);
  EXPECT_LT(before_kill, kRecords) << "the kill came after the stream: make it longer";
  rsyslog.restart();
  ASSERT_TRUE(test::eventually([&] { return f.counters().sent == kRecords; }, 60s))
      << f.counters().sent << " acknowledged, " << rsyslog.lines().size() << " lines";

  // Every record, in order of first arrival; a copy only of a record sent before the break,
  // whole (same identity, same text), and at most a window of them per session lost.
  auto lines = rsyslog.lines();
  std::map<std::uint64_t, std::string> first;
  std::uint64_t next = 1, copies = 0;
  for (const auto& line : lines) {
    std::uint64_t seq = seq_of(line);
    if (auto seen = first.find(seq); seen != first.end()) {
      EXPECT_EQ(seen->second, line.sd + line.msg);
      ++copies;
      continue;
    }
    EXPECT_EQ(seq, next) << "out of order or missing";
    next = seq + 1;
    first.emplace(seq, line.sd + line.msg);
  }
  EXPECT_EQ(first.size(), kRecords);
  EXPECT_LE(copies, kRelpWindow * std::max<std::uint64_t>(1, f.counters().disconnects));
  EXPECT_GE(f.counters().disconnects + f.counters().connect_errors, 1u);
}

TEST(ForwardRelp, WhatTheSpoolHeldAtARestartIsSentByTheNextForwarder) {
  test::TempDir dir;
  auto port = test::free_port();
  {
    Forwarder f(relp_to(port), dir.path() / "spool");  // nobody listens
    send(f, 1, 300);
  }
  Rsyslog rsyslog(dir.path() / "rsyslog", port, kRelpModule, "imrelp");
  Forwarder again(relp_to(port), dir.path() / "spool");
  ASSERT_TRUE(test::eventually([&] { return again.counters().sent == 300; }, 20s)) << again.counters().sent;
  auto lines = rsyslog.lines();
  ASSERT_EQ(lines.size(), 300u);
  for (std::uint64_t i = 0; i < 300; ++i) EXPECT_EQ(lines[i].msg, text_of(i + 1));
}

// RELP over TLS: imrelp with librelp's OpenSSL driver and the test's certificate for localhost.
class ForwardRelpTls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = dir.path() / "pki";
    test::make_certificates(pki);
    // The receiver's own certificate: librelp checks the server's only when it shows one.
    std::filesystem::copy_file(pki / "cert.pem", pki / "client-cert.pem");
    std::filesystem::copy_file(pki / "key.pem", pki / "client-key.pem");
  }
  std::unique_ptr<Rsyslog> start_rsyslog(std::uint16_t port) {
    auto pki = dir.path() / "pki";
    return std::make_unique<Rsyslog>(dir.path() / "rsyslog", port, "module(load=\"imrelp\" tls.tlslib=\"openssl\")",
                                     "imrelp",
                                     "tls=\"on\" tls.caCert=\"" + (pki / "ca.pem").string() + "\" tls.myCert=\"" +
                                         (pki / "cert.pem").string() + "\" tls.myPrivKey=\"" +
                                         (pki / "key.pem").string() + "\" tls.authMode=\"certvalid\"");
  }
  config::Forward relp_tls_to(std::uint16_t port, const std::string& host, const std::string& ca) {
    config::Forward s = relp_to(port);
    s.protocol = config::Forward::Protocol::relp_tls;
    s.host = host;
    s.ca_file = dir.path() / "pki" / ca;
    s.cert_file = dir.path() / "pki" / "client-cert.pem";
    s.key_file = dir.path() / "pki" / "client-key.pem";
    return s;
  }
  test::TempDir dir;
};

TEST_F(ForwardRelpTls, EveryRecordArrivesOverTlsToTheServerItsCaSignedForThatName) {
  auto port = test::free_port();
  auto rsyslog = start_rsyslog(port);
  Forwarder f(relp_tls_to(port, "localhost", "ca.pem"), dir.path() / "spool");
  send(f, 1, 300);
  ASSERT_TRUE(test::eventually([&] { return f.counters().sent == 300; }, 20s)) << f.counters().sent;
  auto lines = rsyslog->lines();
  ASSERT_EQ(lines.size(), 300u);
  for (std::uint64_t i = 0; i < 300; ++i) EXPECT_EQ(lines[i].msg, text_of(i + 1));
}

TEST_F(ForwardRelpTls, AServerTheCaDidNotSignGetsNothing) {
  auto port = test::free_port();
  auto rsyslog = start_rsyslog(port);
  Forwarder f(relp_tls_to(port, "localhost", "other-ca.pem"), dir.path() / "spool");
  send(f, 1, 20);
  ASSERT_TRUE(test::eventually([&] { return f.counters().connect_errors >= 1; }, 20s));
  EXPECT_EQ(f.counters().sent, 0u);
  EXPECT_TRUE(rsyslog->lines().empty());
}

TEST_F(ForwardRelpTls, AServerWhoseCertificateNamesAnotherHostGetsNothing) {
  // Signed by the same CA, for another name: the chain is good, the name is not.
  std::string output;
  ASSERT_EQ(test::run_command({"/bin/sh", "-c",
                               "cd '" + (dir.path() / "pki").string() +
                                   "' && openssl req -newkey rsa:2048 -nodes -subj /CN=elsewhere.example "
                                   "-keyout key.pem -out other.csr 2>&1 && printf 'subjectAltName=DNS:elsewhere.example\\n' "
                                   "> other.ext && openssl x509 -req -in other.csr -CA ca.pem -CAkey ca-key.pem "
                                   "-CAcreateserial -days 2 -extfile other.ext -out cert.pem 2>&1"},
                              output),
            0)
      << output;
  auto port = test::free_port();
  auto rsyslog = start_rsyslog(port);
  Forwarder f(relp_tls_to(port, "localhost", "ca.pem"), dir.path() / "spool");
  send(f, 1, 20);
  ASSERT_TRUE(test::eventually([&] { return f.counters().connect_errors >= 1; }, 20s)) << f.counters().sent;
  EXPECT_EQ(f.counters().sent, 0u);
  EXPECT_TRUE(rsyslog->lines().empty());
}

TEST_F(ForwardRelpTls, ATlsFileItCannotReadIsAnErrorAtTheStart) {
  EXPECT_THROW(Forwarder(relp_tls_to(test::free_port(), "localhost", "missing.pem"), dir.path() / "spool"),
               std::runtime_error);
}

// The value of SERIES (name and labels, as written) in the receiver's /metrics, or -1.
long long metric(std::uint16_t http_port, const std::string& series) {
  test::TcpClient c(http_port);
  if (!c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return -1;
  for (int i = 0; i < 5000; ++i) {  // bounded: the scrape has a few hundred lines
    std::string line = c.line();
    if (line.rfind(series + " ", 0) == 0) return std::stoll(line.substr(series.size() + 1));
    if (line == "" && i > 20) break;
  }
  return -1;
}

// The daemon with a RELP [[forward]] and the smallest spool: rsyslog stays away while the hosts
// write more than the spool holds.
TEST(ForwardDaemon, AFullSpoolDropsTheOldestAndCountsThemWhileTheLogsKeepEverything) {
  constexpr int kRecords = 6000;  // ~2.4 MB of messages against a 1 MiB spool
  test::TempDir dir;
  auto port = test::free_port(), http = test::free_port(), rsyslog_port = test::free_port();
  std::ofstream(dir.path() / "rx.toml") << "spool_dir = \"" << (dir.path() / "spool").string() << "\"\n"
                                        << "[hosts]\n\"127.0.0.1\" = \"web-1\"\n"
                                        << "[[forward]]\nname = \"central\"\nprotocol = \"relp\"\n"
                                        << "to = \"127.0.0.1:" << rsyslog_port << "\"\n"
                                        << "queue_memory = \"1M\"\nspool_size = \"1M\"\n";
  test::ReceiverProcess rx({"--config", (dir.path() / "rx.toml").string(), "--listen",
                            "127.0.0.1:" + std::to_string(port), "--log-dir", (dir.path() / "logs").string(),
                            "--http", "127.0.0.1:" + std::to_string(http)});
  test::UdpSender sender("127.0.0.1", port);
  const std::string padding(360, 'x');
  const std::string memory = "lastgasp_forward_queued_bytes{forward=\"central\",where=\"memory\"}";
  for (int seq = 1; seq <= kRecords; ++seq) {
    sender.send("6," + std::to_string(seq) + "," + std::to_string(seq * 1000) + ",-;line " + std::to_string(seq) +
                " " + padding + "\n");
    // A chunk at a time, each on disk before the next: the spool's disk bound is what drops, not
    // its memory bound (which drops what outruns the spilling).
    if (seq % 500 == 0) {
      ASSERT_TRUE(test::eventually([&] { return test::udp_queues_empty(port); }, 5s));
      ASSERT_TRUE(test::eventually([&] { return metric(http, memory) == 0; }, 5s));
    }
  }
  // The receiver's own log has every record, whatever the forward does.
  auto console = dir.path() / "logs" / "web-1" / "console.log";
  ASSERT_TRUE(test::eventually([&] { return test::read_lines(console).size() >= std::size_t(kRecords); }, 20s))
      << test::read_lines(console).size() << "\n" << rx.stderr_text();
  const std::string dropped = "lastgasp_forward_dropped_total{forward=\"central\",kind=\"ordinary\"}";
  ASSERT_TRUE(test::eventually([&] { return metric(http, dropped) > 0; }, 10s)) << metric(http, dropped);
  EXPECT_EQ(metric(http, "lastgasp_forward_dropped_total{forward=\"central\",kind=\"priority\"}"), 0);
  EXPECT_EQ(metric(http, "lastgasp_forward_connected{forward=\"central\"}"), 0);
  long long on_disk = metric(http, "lastgasp_forward_queued_bytes{forward=\"central\",where=\"disk\"}");
  EXPECT_GT(on_disk, 0);
  EXPECT_LE(on_disk, 1 << 20);

  // rsyslog comes: what the spool kept arrives, the newest records, in order: the oldest went.
  // Every record is sent or counted dropped. The drop count is read only then: /metrics shows
  // what the writer published last (every half second), which may predate its last pushes and
  // the drops of the spill that took them.
  Rsyslog rsyslog(dir.path() / "rsyslog", rsyslog_port, kRelpModule, "imrelp");
  const std::string sent = "lastgasp_forward_sent_total{forward=\"central\"}";
  long long lost = 0;  // both counts only rise: once they add up, they are final
  ASSERT_TRUE(test::eventually([&] { return (lost = metric(http, dropped)) + metric(http, sent) == kRecords; }, 60s))
      << metric(http, sent) << " sent, " << lost << " dropped, " << on_disk << " bytes on disk before, " << rsyslog.lines().size() << " arrived, "
      << metric(http, "lastgasp_forward_queued_bytes{forward=\"central\",where=\"disk\"}") << " bytes on disk, "
      << metric(http, memory) << " in memory\n"
      << rx.stderr_text();
  auto lines = rsyslog.lines();
  ASSERT_EQ(lines.size(), std::size_t(kRecords - lost));
  for (std::size_t i = 0; i < lines.size(); ++i)
    ASSERT_EQ(seq_of(lines[i]), std::uint64_t(lost) + 1 + i) << "the oldest go first, the rest in order";
  EXPECT_EQ(metric(http, dropped), lost);
  EXPECT_EQ(rx.stop(), 0);
}

}  // namespace
}  // namespace lastgasp::forward
