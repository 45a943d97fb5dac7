// The daemon as systemd runs it: readiness and status on NOTIFY_SOCKET, sockets
// passed by socket activation, SIGHUP reloading, and built-in rotation.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <fstream>

#include "netconsole_record.hpp"
#include "receiver_process.hpp"
#include "sinks/log_line.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

// An info record whose timestamp follows its sequence number.
std::string info(std::uint64_t seq, const std::string& text) { return ext(6, seq, seq * 10, text); }

// A stand-in for PID 1's notification socket: collects what the daemon sends.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  ~NotifySocket() { ::close(fd_); }
  std::string received() {
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd_, buf, sizeof buf, 0)) > 0;) text_.append(buf, static_cast<std::size_t>(n)).append("\n");
    return text_;
  }
  std::string env() const { return "NOTIFY_SOCKET=" + path_.string(); }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::string text_;
};

TEST(Systemd, ReadyStatusWatchdogAndReloadNotifications) {
  TempDir dir;
  NotifySocket notify(dir.path() / "notify");
  std::ofstream(dir.path() / "rx.toml") << "";
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--config", (dir.path() / "rx.toml").string(), "--listen", "127.0.0.1:" + std::to_string(port),
                      "--log-dir", (dir.path() / "logs").string()},
                     "listening on", {notify.env(), "WATCHDOG_USEC=200000"});
  ASSERT_TRUE(eventually([&] { return notify.received().find("READY=1") != std::string::npos; }));
  ASSERT_TRUE(eventually([&] { return notify.received().find("STATUS=") != std::string::npos; }, 3000ms));
  EXPECT_NE(notify.received().find("WATCHDOG=1"), std::string::npos);
  rx.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return notify.received().find("RELOADING=1\nMONOTONIC_USEC=") != std::string::npos; }));
  EXPECT_EQ(rx.stop(SIGTERM), 0);
  EXPECT_NE(notify.received().find("STOPPING=1"), std::string::npos);
}

TEST(Systemd, AdoptsTheSocketsSystemdPasses) {
  TempDir dir;
  std::uint16_t port = free_port();
  ReceiverProcess rx({"/usr/bin/systemd-socket-activate", "--datagram", "-l", "127.0.0.1:" + std::to_string(port),
                      kReceiverBinary, "--config", "/dev/null", "--listen", "127.0.0.1:1", "--log-dir",
                      (dir.path() / "logs").string()},
                     "Listening on");  // systemd-socket-activate starts the daemon at the first datagram
  UdpSender sender("127.0.0.1", port);
  sender.send(info(1, "through an inherited socket"));
  ASSERT_TRUE(eventually([&] { return rx.stderr_text().find("listening on udp") != std::string::npos; }));
  EXPECT_NE(rx.stderr_text().find("listening on udp 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << "systemd's socket, not the --listen one: " << rx.stderr_text();
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "logs" / "127.0.0.1" / "console.log").find("inherited socket") != std::string::npos;
  }));
}

TEST(Systemd, SighupReloadsTheConfigAndABadOneIsKeptOut) {
  TempDir dir;
  auto config = dir.path() / "rx.toml";
  std::ofstream(config) << "";
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--config", config.string(), "--listen", "127.0.0.1:" + std::to_string(port), "--log-dir",
                      (dir.path() / "logs").string()});
  std::ofstream(config) << "[hosts]\n\"127.0.0.21\" = \"renamed\"\n";
  rx.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return rx.stderr_text().find("config reloaded") != std::string::npos; }));
  UdpSender sender("127.0.0.1", port, "127.0.0.21");
  sender.send(info(1, "under the new name"));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(dir.path() / "logs" / "renamed" / "console.log"); }));
  std::ofstream(config) << "reorder_window_ms = \"x\"\n";
  rx.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return rx.stderr_text().find("keeping the old config") != std::string::npos; }));
  EXPECT_NE(rx.stderr_text().find("rx.toml:1:21: key 'reorder_window_ms'"), std::string::npos) << rx.stderr_text();
  sender.send(info(2, "still running"));
  ASSERT_TRUE(eventually([&] {
    return read_file(dir.path() / "logs" / "renamed" / "console.log").find("still running") != std::string::npos;
  }));
}

TEST(Systemd, BuiltInRotationKeepsWholeRecordsAndTheRetentionCount) {
  TempDir dir;
  std::ofstream(dir.path() / "rx.toml") << "rotate_size = 4096\nrotate_keep = 2\n";
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--config", (dir.path() / "rx.toml").string(), "--listen", "127.0.0.1:" + std::to_string(port),
                      "--log-dir", (dir.path() / "logs").string()});
  UdpSender sender("127.0.0.1", port);
  const std::string filler(150, 'r');
  for (std::uint64_t seq = 1; seq <= 200; ++seq) {
    sender.send(info(seq, "record " + std::to_string(seq) + " " + filler));
    if (seq % 10 == 0) ::usleep(40'000);  // several flushes, so several rotations
  }
  auto host = dir.path() / "logs" / "127.0.0.1";
  ASSERT_TRUE(eventually([&] { return read_file(host / "console.log").find("record 200 ") != std::string::npos; }));
  EXPECT_EQ(rx.stop(SIGTERM), 0);
  // Rotated files are compressed in the background: each is there, plain or as .zst.
  auto rotated = [&](int n) {
    auto plain = host / ("console.log." + std::to_string(n));
    return std::filesystem::exists(plain) || std::filesystem::exists(plain.string() + ".zst");
  };
  EXPECT_TRUE(rotated(1));
  EXPECT_TRUE(rotated(2));
  EXPECT_FALSE(rotated(3)) << "rotate_keep = 2";
  auto lines_of = [&](const std::string& name) {
    auto plain = host / name;
    if (name == "console.log" || std::filesystem::exists(plain)) return read_lines(plain);
    std::string text;
    EXPECT_EQ(run_command({"/usr/bin/zstd", "-dcq", plain.string() + ".zst"}, text), 0) << text;
    std::vector<std::string> lines;
    for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
      lines.push_back(text.substr(start, end - start));
    return lines;
  };
  std::uint64_t last_seq = 0;
  for (const char* name : {"console.log.2", "console.log.1", "console.log"}) {
    for (const auto& line : lines_of(name)) {
      auto cols = sinks::split_log_line(line);
      ASSERT_TRUE(cols) << "a split record: " << line;
      ASSERT_TRUE(cols->text.ends_with(filler)) << "a split record: " << line;
      std::uint64_t seq = std::stoull(std::string(cols->seq));
      EXPECT_GT(seq, last_seq) << "in order across rotated files";
      last_seq = seq;
    }
  }
  EXPECT_EQ(last_seq, 200u);
}

}  // namespace
}  // namespace lastgasp::test
