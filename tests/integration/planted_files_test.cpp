// What someone else who can write to LOG_DIR (or a power loss) may leave where
// the daemon's files go: a FIFO, a directory, a hard link to a file elsewhere,
// a last line cut short. The real daemon over real UDP on loopback must refuse
// or repair each, keep serving the other hosts, and stop on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "netconsole_record.hpp"
#include "receiver_process.hpp"
#include "sinks/log_line.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Whether PID has exited (a zombie not yet reaped, or gone).
bool has_exited(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string fields;
  if (!std::getline(stat, fields)) return true;
  auto paren = fields.rfind(')');
  return paren == std::string::npos || fields.compare(paren + 1, 3, " Z ") == 0;
}

class PlantedFiles : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(config_.path() / "receiver.toml").flush(); }
  void start() {
    rx_ = std::make_unique<ReceiverProcess>(std::vector<std::string>{
        "--config", (config_.path() / "receiver.toml").string(), "--listen", "127.0.0.1:" + std::to_string(port_),
        "--log-dir", logs_.path().string()});
  }
  fs::path log_of(const std::string& host) const { return logs_.path() / host / "console.log"; }
  bool has_text(const std::string& host, const std::string& needle) const {
    return read_file(log_of(host)).find(needle) != std::string::npos;
  }
  // Another host's records reach its log: the daemon is not stuck on the planted file.
  void expect_other_host_served(const std::string& text) {
    UdpSender other("127.0.0.1", port_, "127.0.0.3");
    other.send(ext(6, 1, 100, text));
    EXPECT_TRUE(eventually([&] { return has_text("127.0.0.3", text); }, 3000ms)) << rx_->stderr_text();
  }
  // SIGTERM ends the daemon within 2 s, cleanly.
  void expect_prompt_stop() {
    rx_->signal(SIGTERM);
    EXPECT_TRUE(eventually([&] { return has_exited(rx_->pid()); }, 2000ms)) << "SIGTERM not heard within 2 s";
    EXPECT_EQ(rx_->stop(SIGTERM), 0) << rx_->stderr_text();
  }

  TempDir logs_, config_;
  std::uint16_t port_ = free_port();
  std::unique_ptr<ReceiverProcess> rx_;
};

TEST_F(PlantedFiles, AFifoAsConsoleLogBlocksNothingAndIsRefusedByName) {
  fs::create_directories(logs_.path() / "127.0.0.2");
  ASSERT_EQ(::mkfifo(log_of("127.0.0.2").c_str(), 0640), 0);
  start();
  UdpSender victim("127.0.0.1", port_, "127.0.0.2");
  for (std::uint64_t seq = 1; seq <= 3; ++seq) victim.send(ext(6, seq, seq * 100, "into the fifo"));
  expect_other_host_served("the daemon still listens");
  EXPECT_TRUE(eventually([&] { return rx_->stderr_text().find("refusing " + log_of("127.0.0.2").string()) != std::string::npos; }))
      << rx_->stderr_text();
  EXPECT_NE(rx_->stderr_text().find("not a regular file"), std::string::npos) << rx_->stderr_text();

  std::string out;  // `tail` reads every host's log: the FIFO must not hang it either
  EXPECT_EQ(run_command({kReceiverBinary, "tail", "--log-dir", logs_.path().string()}, out), 0) << out;
  EXPECT_NE(out.find("the daemon still listens"), std::string::npos) << out;

  expect_prompt_stop();
  struct stat st {};
  ASSERT_EQ(::lstat(log_of("127.0.0.2").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "left as it was, for the operator to look at";
}

TEST_F(PlantedFiles, ADirectoryAsConsoleLogIsRefusedByName) {
  fs::create_directories(log_of("127.0.0.2"));
  start();
  UdpSender victim("127.0.0.1", port_, "127.0.0.2");
  victim.send(ext(6, 1, 100, "into the directory"));
  expect_other_host_served("the daemon still writes");
  EXPECT_TRUE(eventually([&] {
    auto said = rx_->stderr_text();
    return said.find("refusing " + log_of("127.0.0.2").string() + ": it is not a regular file") != std::string::npos;
  })) << rx_->stderr_text();
  expect_prompt_stop();
  EXPECT_TRUE(fs::is_empty(log_of("127.0.0.2")));
}

TEST_F(PlantedFiles, AHardLinkToAFileElsewhereIsNeitherWrittenNorCopied) {
  TempDir elsewhere;
  const std::string secret = "root:$y$j9T$secret-hash:19000:0:99999:7:::\n";
  fs::path shadow = elsewhere.path() / "shadow", other = elsewhere.path() / "other";
  std::ofstream(shadow) << secret;
  std::ofstream(other) << secret;
  fs::create_directories(logs_.path() / "127.0.0.2");
  fs::create_hard_link(shadow, log_of("127.0.0.2"));
  fs::create_hard_link(other, logs_.path() / "127.0.0.2" / "state.json.tmp");  // the state file's temporary
  start();
  UdpSender victim("127.0.0.1", port_, "127.0.0.2");
  victim.send(ext(6, 1, 100, "written through the link?"));
  victim.send(ext(0, 2, 200, "Kernel panic - not syncing: copy the log's tail into an incident"));
  expect_other_host_served("the daemon still writes");
  EXPECT_TRUE(eventually([&] { return rx_->stderr_text().find("refusing " + log_of("127.0.0.2").string()) != std::string::npos; }))
      << rx_->stderr_text();
  EXPECT_NE(rx_->stderr_text().find("hard link"), std::string::npos) << rx_->stderr_text();
  expect_prompt_stop();  // and it saves every host's state on the way out

  EXPECT_EQ(read_file(shadow), secret);
  EXPECT_EQ(read_file(other), secret) << "the temporary is made afresh, never truncated through a link";
  EXPECT_EQ(fs::hard_link_count(shadow), 2u);
  for (const auto& entry : fs::recursive_directory_iterator(logs_.path())) {
    bool planted = entry.path() == log_of("127.0.0.2") || entry.path() == logs_.path() / "127.0.0.2" / "state.json.tmp";
    if (!entry.is_regular_file() || planted) continue;
    EXPECT_EQ(read_file(entry.path()).find("secret-hash"), std::string::npos) << entry.path();
  }
}

TEST_F(PlantedFiles, ALastLineCutByPowerLossIsEndedNotGluedToTheNext) {
  const std::string before = "2026-11-25T10:00:01.000000Z\tkern.info\t1\t[    0.000100]\tone\n"
                             "2026-11-25T10:00:02.000000Z\tkern.info\t2\t[    0.000200]\ttwo\n";
  const std::string cut = "2026-11-25T10:00:03.000000Z\tkern.info\t3\t[    0.000300]\tthree, cut sh";
  fs::create_directories(logs_.path() / "127.0.0.1");
  std::ofstream(log_of("127.0.0.1")) << before << cut;
  start();
  UdpSender sender("127.0.0.1", port_);
  sender.send(ext(6, 4, 400, "four, after the restart"));
  ASSERT_TRUE(eventually([&] { return has_text("127.0.0.1", "four, after the restart"); }));
  EXPECT_EQ(rx_->stop(SIGTERM), 0);

  auto lines = read_lines(log_of("127.0.0.1"));
  ASSERT_EQ(lines.size(), 5u) << read_file(log_of("127.0.0.1"));
  EXPECT_EQ(lines[2], cut) << "the cut line stays as it was, on a line of its own";
  EXPECT_EQ(sinks::split_log_line(lines[3])->text, "lastgasp: lost 1 message (seq 3)")
      << "resumed from seq 2, the last whole line, not from the cut one";
  auto record = sinks::split_log_line(lines[4]);
  ASSERT_TRUE(record) << lines[4];
  EXPECT_EQ(record->seq, "4");
  EXPECT_EQ(record->text, "four, after the restart");

  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "tail", "--log-dir", logs_.path().string(), "-n", "2"}, out), 0) << out;
  EXPECT_NE(out.find("lastgasp: lost 1 message (seq 3)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("] four, after the restart\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace lastgasp::test
