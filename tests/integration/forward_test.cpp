// A Forwarder against a real rsyslogd on loopback: every record arrives once,
// in order, with its fields, over TCP and TLS; a destination that is down, or
// goes away and comes back, gets everything from the spool.
#include <gtest/gtest.h>

#include <fstream>

#include "certificates.hpp"
#include "forward/forwarder.hpp"
#include "kernel_event.hpp"
#include "receiver_process.hpp"
#include "rsyslog.hpp"

namespace lastgasp::forward {
namespace {

using namespace std::chrono_literals;
using test::kernel_record;
using test::Rsyslog;

const std::string kTcpModule = "module(load=\"imtcp\")";

config::Forward tcp_to(std::uint16_t port) {
  config::Forward s;
  s.name = "central";
  s.host = "127.0.0.1";
  s.port = port;
  return s;
}

// Sends records 1..N of host web-1, and returns their texts.
std::vector<std::string> send(Forwarder& f, std::uint64_t first, std::uint64_t count) {
  std::vector<std::string> texts;
  for (std::uint64_t seq = first; seq < first + count; ++seq) {
    texts.push_back("record " + std::to_string(seq) + " of web-1");
    f.write("web-1", 2, std::nullopt, kernel_record(seq, texts.back()));
  }
  return texts;
}

std::vector<std::string> messages(const Rsyslog& r) {
  std::vector<std::string> out;
  for (const auto& line : r.lines()) out.push_back(line.msg);
  return out;
}

bool has_all(const Rsyslog& r, std::size_t n, std::chrono::milliseconds timeout = 10s) {
  return test::eventually([&] { return r.lines().size() >= n; }, timeout);
}

TEST(Forward, EveryRecordArrivesOnceInOrderWithItsFieldsOverTcp) {
  test::TempDir dir;
  auto port = test::free_port();
  Rsyslog rsyslog(dir.path() / "rsyslog", port, kTcpModule, "imtcp");
  Forwarder f(tcp_to(port), dir.path() / "spool");
  std::vector<std::string> texts = send(f, 1, 500);
  stream::Event panic = kernel_record(501, "Kernel panic - not syncing: sysrq triggered crash");
  panic.record.prio = 0;
  panic.record.fields = {{"SUBSYSTEM", "net"}};
  f.write("web-1", 2, 6666, panic);
  texts.push_back(panic.record.text);
  ASSERT_TRUE(has_all(rsyslog, texts.size())) << rsyslog.lines().size();
  EXPECT_EQ(messages(rsyslog), texts);
  auto lines = rsyslog.lines();
  EXPECT_EQ(lines[0].host, "web-1");
  EXPECT_EQ(lines[0].app, "kernel");
  EXPECT_EQ(lines[0].msgid, "-");
  EXPECT_EQ(lines[0].pri, "6");
  EXPECT_EQ(lines[0].sd, "[lastgasp@32473 seq=\"1\" ktime_usec=\"1000\" boot=\"2\" event=\"record\"]");
  EXPECT_EQ(lines.back().pri, "0");
  EXPECT_EQ(lines.back().sd,
            "[lastgasp@32473 seq=\"501\" ktime_usec=\"501000\" boot=\"2\" src=\"6666\" event=\"record\" SUBSYSTEM=\"net\"]");
  EXPECT_EQ(f.counters().sent, texts.size());
}

TEST(Forward, RecordsWrittenWhileTheDestinationIsDownArriveWhenItComes) {
  test::TempDir dir;
  auto port = test::free_port();
  Forwarder f(tcp_to(port), dir.path() / "spool");
  std::vector<std::string> texts = send(f, 1, 300);
  ASSERT_TRUE(test::eventually([&] { return f.counters().spooled_bytes > 0; }, 5s));  // spilled to disk
  EXPECT_GE(f.counters().connect_errors, 1u);
  Rsyslog rsyslog(dir.path() / "rsyslog", port, kTcpModule, "imtcp");
  auto more = send(f, 301, 100);  // behind the spool, not past it
  texts.insert(texts.end(), more.begin(), more.end());
  ASSERT_TRUE(has_all(rsyslog, texts.size(), 40s)) << rsyslog.lines().size();  // backoff: 1, 2, 4... s
  EXPECT_EQ(messages(rsyslog), texts);
  EXPECT_EQ(f.counters().spooled_bytes, 0u);
}

TEST(Forward, WhatTheSpoolHeldAtARestartIsSentByTheNextForwarder) {
  test::TempDir dir;
  auto port = test::free_port();
  std::vector<std::string> texts;
  {
    Forwarder f(tcp_to(port), dir.path() / "spool");  // nobody listens
    texts = send(f, 1, 200);
  }
  Rsyslog rsyslog(dir.path() / "rsyslog", port, kTcpModule, "imtcp");
  Forwarder again(tcp_to(port), dir.path() / "spool");
  ASSERT_TRUE(has_all(rsyslog, texts.size())) << rsyslog.lines().size();
  EXPECT_EQ(messages(rsyslog), texts);
}

TEST(Forward, FiltersByHostLevelAndEvents) {
  test::TempDir dir;
  auto port = test::free_port();
  Rsyslog rsyslog(dir.path() / "rsyslog", port, kTcpModule, "imtcp");
  config::Forward s = tcp_to(port);
  s.hosts = "db-*";
  s.max_level = 4;
  Forwarder f(s, dir.path() / "spool");
  auto debug = kernel_record(1, "chatter");
  debug.record.prio = 7;
  auto warning = kernel_record(2, "WARNING: at mm/page_alloc.c");
  warning.record.prio = 4;
  f.write("db-1", 0, std::nullopt, debug);
  f.write("web-1", 0, std::nullopt, warning);
  f.write("db-1", 0, std::nullopt, warning);
  stream::Event gap;
  gap.type = stream::EventType::gap;
  gap.record.text = "lastgasp: lost 3 messages (seq 3-5)";
  f.write("db-1", 0, std::nullopt, gap);
  ASSERT_TRUE(has_all(rsyslog, 2));
  auto lines = rsyslog.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].msg, warning.record.text);
  EXPECT_EQ(lines[1].msgid, "gap");
  EXPECT_EQ(lines[1].app, "lastgasp");
}

class ForwardTls : public ::testing::Test {
 protected:
  void SetUp() override { test::make_certificates(dir.path() / "pki"); }
  std::string tls_module() const {
    auto pki = dir.path() / "pki";
    return "global(DefaultNetstreamDriver=\"ossl\" DefaultNetstreamDriverCAFile=\"" + (pki / "ca.pem").string() +
           "\" DefaultNetstreamDriverCertFile=\"" + (pki / "cert.pem").string() +
           "\" DefaultNetstreamDriverKeyFile=\"" + (pki / "key.pem").string() +
           "\")\nmodule(load=\"imtcp\" StreamDriver.Name=\"ossl\" StreamDriver.Mode=\"1\" "
           "StreamDriver.AuthMode=\"anon\")";
  }
  config::Forward tls_to(std::uint16_t port, const std::string& host, const std::string& ca) {
    config::Forward s = tcp_to(port);
    s.protocol = config::Forward::Protocol::tls;
    s.host = host;
    s.ca_file = dir.path() / "pki" / ca;
    return s;
  }
  test::TempDir dir;
};

TEST_F(ForwardTls, EveryRecordArrivesOverTlsVerifiedByAddressOrName) {
  auto port = test::free_port();
  Rsyslog rsyslog(dir.path() / "rsyslog", port, tls_module(), "imtcp");
  std::vector<std::string> texts;
  {
    Forwarder f(tls_to(port, "127.0.0.1", "ca.pem"), dir.path() / "spool");
    texts = send(f, 1, 200);
    ASSERT_TRUE(has_all(rsyslog, texts.size())) << rsyslog.lines().size();
  }
  Forwarder by_name(tls_to(port, "localhost", "ca.pem"), dir.path() / "spool");
  auto more = send(by_name, 201, 10);
  texts.insert(texts.end(), more.begin(), more.end());
  ASSERT_TRUE(has_all(rsyslog, texts.size())) << rsyslog.lines().size();
  EXPECT_EQ(messages(rsyslog), texts);
}

TEST_F(ForwardTls, AServerTheCaDidNotSignGetsNothing) {
  auto port = test::free_port();
  Rsyslog rsyslog(dir.path() / "rsyslog", port, tls_module(), "imtcp");
  Forwarder f(tls_to(port, "127.0.0.1", "other-ca.pem"), dir.path() / "spool");
  send(f, 1, 20);
  ASSERT_TRUE(test::eventually([&] { return f.counters().connect_errors >= 1; }, 5s));
  EXPECT_EQ(f.counters().sent, 0u);
  EXPECT_TRUE(rsyslog.lines().empty());
}

// The daemon with a [[forward]] table: netconsole datagrams in, rsyslog out, through a
// destination that goes away and comes back.
TEST(ForwardDaemon, ConsolesFlowToRsyslogAndWaitInTheSpoolWhileItIsAway) {
  test::TempDir dir;
  auto port = test::free_port(), rsyslog_port = test::free_port();
  std::ofstream(dir.path() / "rx.toml") << "spool_dir = \"" << (dir.path() / "spool").string() << "\"\n"
                                        << "[hosts]\n\"127.0.0.1\" = \"web-1\"\n"
                                        << "[[forward]]\nname = \"central\"\nto = \"127.0.0.1:" << rsyslog_port << "\"\n";
  auto rsyslog = std::make_unique<Rsyslog>(dir.path() / "rsyslog", rsyslog_port, kTcpModule, "imtcp");
  test::ReceiverProcess rx({"--config", (dir.path() / "rx.toml").string(), "--listen",
                            "127.0.0.1:" + std::to_string(port), "--log-dir", (dir.path() / "logs").string()});
  test::UdpSender sender("127.0.0.1", port);
  std::vector<std::string> texts;
  for (int seq = 1; seq <= 100; ++seq) {
    texts.push_back("line " + std::to_string(seq));
    sender.send("6," + std::to_string(seq) + "," + std::to_string(seq * 1000) + ",-;" + texts.back() + "\n");
  }
  sender.send("0,101,101000,-;Kernel panic - not syncing: sysrq triggered crash\n");
  texts.push_back("Kernel panic - not syncing: sysrq triggered crash");
  // after the panic line, ours: "lastgasp: panic ..." with MSGID panic
  ASSERT_TRUE(test::eventually([&] { return rsyslog->lines().size() >= texts.size() + 1; }, 10s))
      << rsyslog->lines().size() << "\n" << rx.stderr_text();
  auto lines = rsyslog->lines();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(lines[i].msg, texts[i]);
    EXPECT_EQ(lines[i].host, "web-1");
  }
  EXPECT_EQ(lines[texts.size()].msgid, "panic");
  EXPECT_EQ(lines[texts.size()].app, "lastgasp");

  rsyslog->stop();
  ASSERT_TRUE(test::eventually([&] { return rx.stderr_text().find("connection lost") != std::string::npos; }, 10s))
      << rx.stderr_text();
  std::vector<std::string> later;
  for (int seq = 102; seq <= 151; ++seq) {  // while rsyslog is away
    later.push_back("after " + std::to_string(seq));
    sender.send("6," + std::to_string(seq) + "," + std::to_string(seq * 1000) + ",-;" + later.back() + "\n");
  }
  ASSERT_TRUE(test::eventually([&] { return test::udp_queues_empty(port); }, 5s));
  std::filesystem::remove(dir.path() / "rsyslog" / "out.log");
  rsyslog = std::make_unique<Rsyslog>(dir.path() / "rsyslog", rsyslog_port, kTcpModule, "imtcp");
  ASSERT_TRUE(test::eventually([&] { return rsyslog->lines().size() >= later.size(); }, 40s))
      << rsyslog->lines().size() << "\n" << rx.stderr_text();
  EXPECT_EQ(messages(*rsyslog), later);
  EXPECT_EQ(rx.stop(), 0);
}

}  // namespace
}  // namespace lastgasp::forward
