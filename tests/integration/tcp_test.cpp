// The TCP side of docs/protocol.md against the real daemon, over loopback.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "digest.hpp"
#include "net/tcp_endpoint.hpp"
#include "receiver_process.hpp"
#include "tcp_client.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

std::string upload(const std::string& name, const std::string& body, const std::string& sha = "") {
  return "LASTGASP/1 PSTORE host=guest%20one boot_id=3d1219c7-c4c5-404a-aa1f-6d2a48adfda4 name=" + name + " size=" +
         std::to_string(body.size()) + " sha256=" + (sha.empty() ? lastgasp::sha256_hex(body) : sha) + "\n" + body;
}

const std::string kPanicRecord =
    "Panic#1 Part1\n<6>[    4.5] sysrq: Trigger a crash\n<0>[    4.568770] Kernel panic - not syncing: sysrq triggered crash\n"
    "<4>[    4.569264] CPU: 0 PID: 1 Comm: init\n";

class Tcp : public ::testing::Test {
 protected:
  void start(const std::string& config = "") {
    std::ofstream(dir_.path() / "rx.toml") << config;
    rx_ = std::make_unique<ReceiverProcess>(std::vector<std::string>{
        "--config", (dir_.path() / "rx.toml").string(), "--listen", "127.0.0.1:" + std::to_string(port_), "--log-dir",
        (dir_.path() / "logs").string()});
  }
  std::filesystem::path host_dir() { return dir_.path() / "logs" / "127.0.0.1"; }
  TempDir dir_;
  std::uint16_t port_ = free_port();
  std::unique_ptr<ReceiverProcess> rx_;
};

TEST_F(Tcp, APanicRecordIsStoredOnceWithALogLineAndAnIncident) {
  start();
  TcpClient client(port_);
  ASSERT_TRUE(client.connected());
  client.send(upload("dmesg-ramoops-0", kPanicRecord));
  EXPECT_EQ(client.line(), "OK stored sha256=" + lastgasp::sha256_hex(kPanicRecord));
  EXPECT_EQ(read_file(host_dir() / "pstore" / "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4" / "dmesg-ramoops-0"), kPanicRecord)
      << "on disk before the OK";
  // The log line and incident file are the writer thread's, a moment after the OK.
  auto incident_written = [&] {
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(host_dir() / "incidents", ec))
      if (read_file(e.path()) == kPanicRecord) return true;
    return false;
  };
  ASSERT_TRUE(eventually(incident_written));
  auto log = read_file(host_dir() / "console.log");
  EXPECT_NE(log.find("\tlastgasp\t-\t-\tlastgasp: pstore panic record dmesg-ramoops-0 from the boot before "
                     "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4 arrived (" + std::to_string(kPanicRecord.size()) +
                     " bytes): Kernel panic - not syncing: sysrq triggered crash\t"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("sender=guest\\x20one"), std::string::npos) << log;
  std::vector<std::filesystem::path> incidents;
  for (auto& e : std::filesystem::directory_iterator(host_dir() / "incidents")) incidents.push_back(e.path());
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_TRUE(incidents[0].filename().string().ends_with("-pstore-panic.log"));
  EXPECT_EQ(read_file(incidents[0]), kPanicRecord);

  // Again, on the same connection and on a new one: never stored twice.
  client.send(upload("dmesg-ramoops-0", kPanicRecord));
  EXPECT_EQ(client.line(), "OK duplicate sha256=" + lastgasp::sha256_hex(kPanicRecord));
  TcpClient again(port_);
  again.send(upload("dmesg-ramoops-0", kPanicRecord) + upload("console-ramoops-0", "just a console\n"));
  EXPECT_EQ(again.line(), "OK duplicate sha256=" + lastgasp::sha256_hex(kPanicRecord));
  EXPECT_EQ(again.line(), "OK stored sha256=" + lastgasp::sha256_hex("just a console\n"));
  EXPECT_EQ(read_lines(host_dir() / "pstore" / "index").size(), 2u);
}

TEST_F(Tcp, BadUploadsAreRefusedAndNothingIsStored) {
  start("max_upload = 2048\n");
  auto expect_error = [&](const std::string& request, const std::string& error) {
    TcpClient client(port_);
    client.send(request);
    EXPECT_EQ(client.line(), error) << request.substr(0, 80);
    EXPECT_EQ(client.line(), "") << "an error closes the connection";
  };
  expect_error(upload("dmesg-ramoops-0", "body", std::string(64, 'a')), "ERR checksum");
  expect_error(upload("dmesg-ramoops-0", std::string(4096, 'x')), "ERR too-large");
  expect_error(upload("../../etc/passwd", "x"), "ERR bad-request");
  expect_error("LASTGASP/1 PSTORE name=x size=1\nx", "ERR bad-request");
  expect_error("GET / HTTP/1.0\n", "ERR bad-request");
  expect_error(std::string(5000, 'A') + "\n", "ERR bad-request");
  EXPECT_FALSE(std::filesystem::exists(host_dir() / "pstore" / "index"));
  EXPECT_EQ(rx_->stop(SIGTERM), 0) << "the daemon survived all of it";
}

TEST_F(Tcp, TheAllowListRefusesUploadsAndDatagramsFromOutside) {
  start("allow = [\"127.0.0.2/32\"]\n");
  TcpClient outside(port_, "127.0.0.3");
  outside.send(upload("dmesg-ramoops-0", kPanicRecord));
  EXPECT_EQ(outside.line(), "ERR refused");
  TcpClient inside(port_, "127.0.0.2");
  inside.send(upload("dmesg-ramoops-0", kPanicRecord));
  EXPECT_EQ(inside.line(), "OK stored sha256=" + lastgasp::sha256_hex(kPanicRecord));
  UdpSender udp_outside("127.0.0.1", port_, "127.0.0.3");
  udp_outside.send("6,1,1,-;should be dropped\n");
  UdpSender udp_inside("127.0.0.1", port_, "127.0.0.2");
  udp_inside.send("6,1,1,-;allowed\n");
  ASSERT_TRUE(eventually([&] {
    return read_file(dir_.path() / "logs" / "127.0.0.2" / "console.log").find("allowed") != std::string::npos;
  }));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "logs" / "127.0.0.3"));
}

TEST_F(Tcp, VerifyFindsACanaryAlreadyThereOrArrivingAndGivesUpInTime) {
  start();
  UdpSender udp("127.0.0.1", port_);
  udp.send("13,1,100,-;lastgasp-setup verify: canary-early-1234\n");
  ASSERT_TRUE(eventually([&] { return read_file(host_dir() / "console.log").find("canary-early") != std::string::npos; }));
  TcpClient client(port_);
  client.send("LASTGASP/1 VERIFY token=canary-early-1234 wait_ms=5000\n");
  std::string found = client.line();
  EXPECT_TRUE(found.starts_with("OK found host=127.0.0.1 recv_time=20")) << found;

  client.send("LASTGASP/1 VERIFY token=canary-late-5678 wait_ms=5000\n");
  std::thread later([&] {
    std::this_thread::sleep_for(300ms);
    udp.send("13,2,200,-;lastgasp-setup verify: canary-late-5678\n");
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.line().starts_with("OK found host=127.0.0.1"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s) << "answered when it arrived, not at the deadline";
  later.join();

  client.send("LASTGASP/1 VERIFY token=canary-never-0000 wait_ms=400\n");
  EXPECT_EQ(client.line(), "ERR not-found");
}

TEST(TcpRequest, ParsesAndPercentDecodes) {
  auto r = net::parse_request("LASTGASP/1 PSTORE host=a%20b name=dmesg-ramoops-0 size=12");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verb, "PSTORE");
  EXPECT_EQ(*r->get("host"), "a b");
  EXPECT_EQ(*r->get("size"), "12");
  EXPECT_FALSE(net::parse_request("LASTGASP/2 PSTORE"));
  EXPECT_FALSE(net::parse_request("LASTGASP/1 PSTORE host=%2"));
  EXPECT_FALSE(net::parse_request("LASTGASP/1 PSTORE =x"));
  EXPECT_EQ(lastgasp::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace lastgasp::test
