#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "netconsole_record.hpp"
#include "receiver_process.hpp"
#include "sinks/journal_sink.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

// Whether a journald is reading the socket. The socket file alone proves nothing: it outlives a
// journald that was killed, and sends to it are then refused.
bool journald_is_listening() {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, kJournalSocket, sizeof addr.sun_path - 1);
  bool listening = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return listening;
}

// A real journald: the one running, or one started standalone for these tests.
class Journald : public ::testing::Environment {
 public:
  void SetUp() override {
    if (journald_is_listening()) return;
    started_ = std::make_unique<ReceiverProcess>(std::vector<std::string>{"/lib/systemd/systemd-journald"}, "");
    ASSERT_TRUE(eventually(journald_is_listening, 10'000ms));
  }
  void TearDown() override {
    if (started_) started_->stop(SIGTERM);
  }

 private:
  std::unique_ptr<ReceiverProcess> started_;
};
const auto* const journald = ::testing::AddGlobalTestEnvironment(new Journald);

std::string unique_name() {
  std::random_device rd;
  return "jtest-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
}

// The entries journalctl gives for MATCH ("FIELD=VALUE").
std::vector<nlohmann::json> journal_entries(const std::string& match) {
  std::string out;
  run_command({"/usr/bin/journalctl", "--no-pager", "-o", "json", match}, out);
  std::vector<nlohmann::json> entries;
  std::size_t start = 0;
  for (std::size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
    auto j = nlohmann::json::parse(out.substr(start, nl - start), nullptr, false);
    if (j.is_object()) entries.push_back(j);
  }
  return entries;
}

TEST(Journal, OneEntryPerRecordWithTheLastgaspFields) {
  TempDir dir;
  std::string name = unique_name();
  std::ofstream(dir.path() / "rx.toml") << "journal = true\n[hosts]\n\"127.0.0.31\" = \"" << name << "\"\n";
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--config", (dir.path() / "rx.toml").string(), "--listen", "127.0.0.1:" + std::to_string(port),
                      "--log-dir", (dir.path() / "logs").string()});
  UdpSender sender("127.0.0.1", port, "127.0.0.31");
  sender.send(ext(6, 10, 1000, "an ordinary line"));
  sender.send(ext(0, 13, 2000, "Kernel panic - not syncing: for the journal"));  // after a gap of two
  // The gap is written once the reorder window has passed: only then may the new boot come.
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "logs" / name / "console.log").find("for the journal") != std::string::npos;
  }));
  sender.send(ext(6, 2, 5000, "a new boot"));  // seq behind, time ahead
  std::vector<nlohmann::json> entries;
  ASSERT_TRUE(eventually([&] { return (entries = journal_entries("LASTGASP_HOST=" + name)).size() >= 6; }, 10'000ms))
      << entries.size() << " entries; the receiver said:\n" << rx.stderr_text();
  ASSERT_EQ(entries.size(), 6u) << "record, gap, record, panic, reboot, record";
  EXPECT_EQ(entries[0]["MESSAGE"], "an ordinary line");
  EXPECT_EQ(entries[0]["PRIORITY"], "6");
  EXPECT_EQ(entries[0]["LASTGASP_LEVEL"], "6");
  EXPECT_EQ(entries[0]["SYSLOG_IDENTIFIER"], name);
  EXPECT_EQ(entries[0]["LASTGASP_SEQ"], "10");
  EXPECT_EQ(entries[0]["LASTGASP_KTIME_USEC"], "1000");
  EXPECT_EQ(entries[0]["LASTGASP_BOOT"], "1");
  EXPECT_EQ(entries[1]["MESSAGE_ID"], sinks::kGapMessageId);
  EXPECT_EQ(entries[2]["MESSAGE"], "Kernel panic - not syncing: for the journal");
  EXPECT_EQ(entries[2]["PRIORITY"], "2") << "clamped: a remote emerg must not be broadcast to terminals";
  EXPECT_EQ(entries[2]["LASTGASP_LEVEL"], "0");
  EXPECT_EQ(entries[3]["MESSAGE_ID"], sinks::kPanicMessageId);
  EXPECT_EQ(entries[4]["MESSAGE_ID"], sinks::kRebootMessageId);
  EXPECT_EQ(entries[4]["LASTGASP_BOOT"], "2");
  EXPECT_EQ(entries[5]["LASTGASP_BOOT"], "2");
  EXPECT_EQ(entries[5]["LASTGASP_SEQ"], "2");
}

// The daemon's own notices on the journal's stream, as systemd connects a unit's stderr (here by
// systemd-cat, JOURNAL_STREAM set as systemd sets it): each filed at its level, the "<N>" read as
// the level and not left in the text.
TEST(Journal, TheDaemonsNoticesAreFiledAtTheirLevel) {
  TempDir dir;
  std::string name = unique_name();
  std::ofstream(dir.path() / "rx.toml").flush();
  ReceiverProcess rx({"/usr/bin/systemd-cat", "-t", name, "/bin/sh", "-c",
                      "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" \"$@\"", kReceiverBinary,
                      "--http", "", "--config", (dir.path() / "rx.toml").string(), "--listen",
                      "127.0.0.1:" + std::to_string(free_port()), "--log-dir", (dir.path() / "logs").string()},
                     "");
  auto entry = [&](const std::string& start) {
    for (const nlohmann::json& e : journal_entries("SYSLOG_IDENTIFIER=" + name))
      if (e.value("MESSAGE", "").starts_with(start)) return e;
    return nlohmann::json();
  };
  nlohmann::json listening;
  ASSERT_TRUE(eventually([&] { return !(listening = entry("lastgasp-receiver: listening on")).is_null(); }, 10'000ms));
  EXPECT_EQ(listening["PRIORITY"], "6") << listening;
  std::ofstream(dir.path() / "rx.toml") << "reorder_window_ms = \"soon\"\n";
  rx.signal(SIGHUP);
  nlohmann::json refused;
  ASSERT_TRUE(eventually([&] { return !(refused = entry("lastgasp-receiver: SIGHUP: keeping the old config")).is_null(); },
                         10'000ms));
  EXPECT_EQ(refused["PRIORITY"], "3") << refused;
  EXPECT_EQ(rx.stop(SIGTERM), 0);
}

TEST(Journal, AJournalFailureNeverStopsFileLogging) {
  TempDir dir;
  std::uint16_t port = free_port();
  // In a private mount namespace, the journal's socket is replaced by a dead one that refuses every
  // send (a missing socket would not do: libsystemd ignores ENOENT on purpose).
  std::string command = "mount -t tmpfs none /run/systemd/journal && python3 -c \"import socket; "
                        "socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind('" + std::string(kJournalSocket) +
                        "')\" && exec " + kReceiverBinary +
                        " --journal --http '' --config /dev/null --listen 127.0.0.1:" + std::to_string(port) + " --log-dir " +
                        (dir.path() / "logs").string();
  ReceiverProcess rx({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", command});
  UdpSender sender("127.0.0.1", port);
  for (std::uint64_t seq = 1; seq <= 50; ++seq) sender.send(ext(6, seq, seq * 10, "line " + std::to_string(seq)));
  auto log = dir.path() / "logs" / "127.0.0.1" / "console.log";
  ASSERT_TRUE(eventually([&] { return read_file(log).find("line 50\n") != std::string::npos; }));
  EXPECT_EQ(read_lines(log).size(), 50u);
  EXPECT_NE(rx.stderr_text().find("cannot write to the journal"), std::string::npos) << rx.stderr_text();
}

}  // namespace
}  // namespace lastgasp::test
