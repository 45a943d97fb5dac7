// lastgasp-setup collect and verify against the real receiver, over real TCP
// (and UDP for verify's canary) on loopback. The host side is a fake tree
// (--root): /sys/fs/pstore and /var/lib/systemd/pstore hold the records, and
// /dev/kmsg is a plain file, so the test plays netconsole and sends the canary.
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "receiver_process.hpp"
#include "tool_runner.hpp"

namespace {

namespace fs = std::filesystem;
using lastgasp::setup::testing::run_tool;
using lastgasp::setup::testing::ToolResult;
using namespace lastgasp::test;

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

bool tcp_listening(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

const std::string kPanicRecord =
    "Panic#1 Part1\n<6>[    4.50] E2E: about to panic\n<0>[    4.568770] Kernel panic - not syncing: sysrq triggered crash\n";

class CollectVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tree_.path() / "root";
    write(root_ / "proc/sys/kernel/hostname", "web1\n");
    write(root_ / "proc/sys/kernel/random/boot_id", "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4\n");
    fs::create_directories(root_ / "sys/fs/pstore");
    fs::create_directories(root_ / "dev");
  }
  void start_receiver(const std::string& config_text = "") {
    port_ = free_port();
    std::vector<std::string> args = {kReceiverBinary, "--listen", "127.0.0.1:" + std::to_string(port_), "--log-dir",
                                     (tree_.path() / "logs").string()};
    if (!config_text.empty()) {
      write(tree_.path() / "receiver.toml", config_text);
      args.insert(args.end(), {"--config", (tree_.path() / "receiver.toml").string()});
    }
    receiver_ = std::make_unique<ReceiverProcess>(args);
    ASSERT_TRUE(eventually([&] { return tcp_listening(port_); })) << receiver_->stderr_text();
  }
  ToolResult setup(std::vector<std::string> args) {
    args.insert(args.begin(), {"--root", root_.string()});
    return run_tool(args);
  }
  // A second receiver, with a log directory of its own.
  void start_second_receiver() {
    second_port_ = free_port();
    second_ = std::make_unique<ReceiverProcess>(std::vector<std::string>{
        kReceiverBinary, "--listen", second_to(), "--log-dir", (tree_.path() / "logs-2").string()});
    ASSERT_TRUE(eventually([&] { return tcp_listening(second_port_); })) << second_->stderr_text();
  }
  std::string to() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string second_to() const { return "127.0.0.1:" + std::to_string(second_port_); }
  fs::path host_dir() const { return tree_.path() / "logs" / "127.0.0.1"; }

  TempDir tree_;
  fs::path root_;
  std::uint16_t port_ = 0, second_port_ = 0;
  std::unique_ptr<ReceiverProcess> receiver_, second_;
};

TEST_F(CollectVerify, CollectShipsBothPlacesArchivesOnlyAfterTheAckAndNeverTwice) {
  start_receiver();
  write(root_ / "sys/fs/pstore/dmesg-ramoops-0", kPanicRecord);
  write(root_ / "var/lib/systemd/pstore/1700000000/dmesg-efi-171", "Oops#1 Part1\nsomething\n");
  ToolResult r = setup({"collect", "--to", to()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 new, 0 already there"), std::string::npos) << r.out;
  // Removed where they were (freeing the backend), archived under /var/lib/lastgasp.
  EXPECT_FALSE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-0"));
  EXPECT_FALSE(fs::exists(root_ / "var/lib/systemd/pstore/1700000000/dmesg-efi-171"));
  fs::path archive = root_ / "var/lib/lastgasp/pstore/3d1219c7-c4c5-404a-aa1f-6d2a48adfda4";
  EXPECT_EQ(read_file(archive / "dmesg-ramoops-0"), kPanicRecord);
  // Filed under the peer's address as the previous boot's records, with a line saying so.
  fs::path filed = host_dir() / "pstore/3d1219c7-c4c5-404a-aa1f-6d2a48adfda4";
  EXPECT_EQ(read_file(filed / "dmesg-ramoops-0"), kPanicRecord);
  EXPECT_TRUE(fs::exists(filed / "dmesg-efi-171"));
  EXPECT_FALSE(fs::exists(tree_.path() / "logs" / "web1"));
  ASSERT_TRUE(eventually([&] { return read_file(host_dir() / "console.log").find("pstore panic record dmesg-ramoops-0") != std::string::npos; }))
      << read_file(host_dir() / "console.log");

  // The same record again (put back by hand): the receiver has it, nothing is filed twice.
  write(root_ / "sys/fs/pstore/dmesg-ramoops-0", kPanicRecord);
  r = setup({"collect", "--to", to(), "--json"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"duplicate\""), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-0"));
  EXPECT_EQ(read_lines(host_dir() / "pstore/index").size(), 2u);

  // Nothing left: nothing to do, and that is fine.
  r = setup({"collect", "--to", to()});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("nothing to collect"), std::string::npos) << r.out;
}

TEST_F(CollectVerify, ARecordStaysWhenTheReceiverRefusesOrIsAway) {
  start_receiver("allow = [\"192.0.2.0/24\"]\n");
  write(root_ / "sys/fs/pstore/dmesg-ramoops-0", kPanicRecord);
  ToolResult r = setup({"collect", "--to", to()});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("allow list"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-0"));
  EXPECT_FALSE(fs::exists(root_ / "var/lib/lastgasp/pstore"));
  receiver_->stop();
  r = setup({"collect", "--to", to(), "--timeout", "2"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-0"));
}

TEST_F(CollectVerify, ARecordSystemdPstoreCopiedIsSentOnceAndArchivedFromBothPlaces) {
  start_receiver();
  write(root_ / "sys/fs/pstore/dmesg-ramoops-0", kPanicRecord);
  write(root_ / "var/lib/systemd/pstore/1700000000/dmesg-ramoops-0", kPanicRecord);
  ToolResult r = setup({"collect", "--to", to()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Collected 1 pstore record(s)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-0"));
  EXPECT_FALSE(fs::exists(root_ / "var/lib/systemd/pstore/1700000000/dmesg-ramoops-0"));
  EXPECT_EQ(read_lines(host_dir() / "pstore/index").size(), 1u);
}

TEST_F(CollectVerify, CollectTakesTheReceiverFromTheSavedSettings) {
  start_receiver();
  write(root_ / "etc/lastgasp/sender.toml", "[netconsole]\nto = \"" + to() + "\"\n");
  write(root_ / "sys/fs/pstore/dmesg-ramoops-1", kPanicRecord);
  ToolResult r = setup({"collect"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(host_dir() / "pstore/3d1219c7-c4c5-404a-aa1f-6d2a48adfda4/dmesg-ramoops-1"));
}

TEST_F(CollectVerify, VerifySucceedsWhenTheCanaryArrivesOverNetconsole) {
  start_receiver();
  write(root_ / "dev/kmsg", "");
  ToolResult r;
  std::thread tool([&] { r = setup({"verify", "--to", to(), "--wait", "10"}); });
  // Play netconsole: the canary line written to /dev/kmsg goes out as an extended record.
  std::smatch m;
  std::string kmsg;
  bool seen = eventually([&] {
    kmsg = read_file(root_ / "dev/kmsg");
    return std::regex_search(kmsg, m, std::regex("lastgasp-canary-[0-9a-f]+"));
  }, std::chrono::milliseconds(8000));
  if (seen) {
    std::string text = kmsg.substr(kmsg.find('>') + 1);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    UdpSender(to().substr(0, 9), port_).send("13,100,5000000,-;" + text + "\n");
  }
  tool.join();
  ASSERT_TRUE(seen) << "no canary in /dev/kmsg: " << r.out << r.err;
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("OK: the canary " + m.str()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("host 127.0.0.1"), std::string::npos) << r.out;
}

TEST_F(CollectVerify, VerifyFailsClearlyWithinTheWaitWhenNothingArrives) {
  start_receiver();
  write(root_ / "dev/kmsg", "");
  auto start = std::chrono::steady_clock::now();
  ToolResult r = setup({"verify", "--to", to(), "--wait", "0.5"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("did not reach the receiver"), std::string::npos) << r.out;
  EXPECT_LT(took, std::chrono::seconds(8));
  receiver_->stop();
  r = setup({"verify", "--to", to(), "--wait", "0.5"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
}

// The canary's text, once the tool has written it to /dev/kmsg, as netconsole
// would send it: an extended record.
std::optional<std::string> canary_record(const fs::path& kmsg_file, std::string& token) {
  std::string kmsg = read_file(kmsg_file);
  std::smatch m;
  if (!std::regex_search(kmsg, m, std::regex("lastgasp-canary-[0-9a-f]+"))) return std::nullopt;
  token = m.str();
  std::string text = kmsg.substr(kmsg.find('>') + 1);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return "13,100,5000000,-;" + text + "\n";
}

TEST_F(CollectVerify, CollectSendsEachRecordToEveryReceiverAndArchivesItOnceOneHasIt) {
  start_receiver();
  start_second_receiver();
  const std::string boot = "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4";
  write(root_ / "sys/fs/pstore/dmesg-ramoops-0", kPanicRecord);
  ToolResult r = setup({"collect", "--to", to(), "--to", second_to(), "--json"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  nlohmann::json report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["receivers"], nlohmann::json::array({to(), second_to()}));
  ASSERT_EQ(report["records"].size(), 1u) << r.out;
  EXPECT_EQ(report["records"][0]["results"][to()], "stored");
  EXPECT_EQ(report["records"][0]["results"][second_to()], "stored");
  EXPECT_EQ(read_file(host_dir() / "pstore" / boot / "dmesg-ramoops-0"), kPanicRecord);
  EXPECT_EQ(read_file(tree_.path() / "logs-2/127.0.0.1/pstore" / boot / "dmesg-ramoops-0"), kPanicRecord);
  EXPECT_FALSE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-0"));

  // The second receiver is down: the first has the next record, which is archived, and the run says who missed it.
  ASSERT_EQ(second_->stop(), 0);
  write(root_ / "sys/fs/pstore/dmesg-ramoops-1", "Oops#1 Part1\nsecond\n");
  r = setup({"collect", "--to", to(), "--to", second_to(), "--timeout", "2"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("dmesg-ramoops-1 did not reach " + second_to()), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("Collected 1 pstore record(s) to " + to() + ": 1 new, 0 already there."), std::string::npos)
      << r.out;
  EXPECT_TRUE(fs::exists(host_dir() / "pstore" / boot / "dmesg-ramoops-1"));
  EXPECT_FALSE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-1"));
  EXPECT_TRUE(fs::exists(root_ / "var/lib/lastgasp/pstore" / boot / "dmesg-ramoops-1"));

  // Both down: no receiver took it, so it stays where it is.
  receiver_->stop();
  write(root_ / "sys/fs/pstore/dmesg-ramoops-2", "Oops#2 Part1\nthird\n");
  r = setup({"collect", "--to", to(), "--to", second_to(), "--timeout", "2"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no receiver took"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(root_ / "sys/fs/pstore/dmesg-ramoops-2"));
  EXPECT_FALSE(fs::exists(root_ / "var/lib/lastgasp/pstore" / boot / "dmesg-ramoops-2"));
}

TEST_F(CollectVerify, VerifyAsksEverySavedReceiverAndIsOkOnlyWhenEachHasTheCanary) {
  start_receiver();
  start_second_receiver();
  write(root_ / "dev/kmsg", "");
  write(root_ / "etc/lastgasp/sender.toml", "[[netconsole]]\nname = 'a'\nto = '" + to() +
                                                "'\n[[netconsole]]\nname = 'b'\nto = '" + second_to() + "'\n");
  // Netconsole played for the first receiver only: the second lacks the canary.
  ToolResult r;
  std::thread tool([&] { r = setup({"verify", "--wait", "3", "--json"}); });
  std::string token;
  std::optional<std::string> record;
  eventually([&] { return (record = canary_record(root_ / "dev/kmsg", token)).has_value(); },
             std::chrono::milliseconds(8000));
  if (record) UdpSender("127.0.0.1", port_).send(*record);
  tool.join();
  ASSERT_TRUE(record) << "no canary in /dev/kmsg: " << r.out << r.err;
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  nlohmann::json report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["token"], token);
  EXPECT_FALSE(report["found"]);
  ASSERT_EQ(report["receivers"].size(), 2u) << r.out;
  EXPECT_EQ(report["receivers"][0]["receiver"], to());
  EXPECT_TRUE(report["receivers"][0]["found"]);
  EXPECT_EQ(report["receivers"][1]["receiver"], second_to());
  EXPECT_FALSE(report["receivers"][1]["found"]);
  // The one canary line names both.
  EXPECT_NE(read_file(root_ / "dev/kmsg").find("for " + to() + ", " + second_to()), std::string::npos);

  // Both receive it: ok.
  write(root_ / "dev/kmsg", "");
  std::thread again([&] { r = setup({"verify", "--wait", "10"}); });
  record.reset();
  eventually([&] { return (record = canary_record(root_ / "dev/kmsg", token)).has_value(); },
             std::chrono::milliseconds(8000));
  if (record) {
    UdpSender("127.0.0.1", port_).send(*record);
    UdpSender("127.0.0.1", second_port_).send(*record);
  }
  again.join();
  ASSERT_TRUE(record) << r.out << r.err;
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 of 2 receivers have the canary."), std::string::npos) << r.out;

  // One receiver cannot be asked: the other still is, and the exit status is 2.
  ASSERT_EQ(second_->stop(), 0);
  write(root_ / "dev/kmsg", "");
  r = setup({"verify", "--wait", "0.5"});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot ask the receiver at " + second_to()), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("did not reach the receiver at " + to()), std::string::npos) << r.out;
}

}  // namespace
