// The command line as a shell user meets it: --config and --log-dir before or after the
// subcommand, and the daemon's notices plain on a terminal, with a syslog level in front
// only where stderr is the journal's stream.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "receiver_process.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

class RootOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(logs_ / "web1");
    std::ofstream(logs_ / "web1" / "console.log") << "2026-11-25T10:00:01.000000Z\tkern.info\t1\t[    1.000000]\tweb1 says hello\n";
    // No daemon to ask: http_listen off, so hosts reads the files.
    std::ofstream(config_) << "log_dir = \"" << logs_.string() << "\"\nhttp_listen = \"\"\n";
    std::ofstream(elsewhere_) << "log_dir = \"" << (scratch_.path() / "elsewhere").string() << "\"\nhttp_listen = \"\"\n";
  }
  int run(const std::vector<std::string>& args) {
    std::vector<std::string> command = {kReceiverBinary};
    command.insert(command.end(), args.begin(), args.end());
    return run_command(command, out_);
  }
  TempDir scratch_;
  const std::filesystem::path logs_ = scratch_.path() / "logs", config_ = scratch_.path() / "rx.toml",
                              elsewhere_ = scratch_.path() / "elsewhere.toml";
  std::string out_;
};

TEST_F(RootOptions, ConfigAndLogDirBeforeTheSubcommandAreTheSubcommands) {
  EXPECT_EQ(run({"--log-dir", logs_.string(), "tail", "-o", "cat"}), 0) << out_;
  EXPECT_EQ(out_, "web1 says hello\n");
  EXPECT_EQ(run({"--config", config_.string(), "tail", "-o", "cat"}), 0) << out_;
  EXPECT_EQ(out_, "web1 says hello\n");
  EXPECT_EQ(run({"--config", config_.string(), "hosts", "-o", "cat"}), 0) << out_;
  EXPECT_EQ(out_, "web1\n");
  EXPECT_EQ(run({"--log-dir", logs_.string(), "hosts", "--config", elsewhere_.string(), "-o", "cat"}), 0) << out_;
  EXPECT_EQ(out_, "web1\n");
  EXPECT_EQ(run({"--config", config_.string(), "check-config"}), 0) << out_;
  EXPECT_EQ(out_.find(config_.string() + ": ok"), 0u) << out_;
}

TEST_F(RootOptions, GivenOnBothSidesTheSubcommandsWins) {
  EXPECT_EQ(run({"--log-dir", (scratch_.path() / "absent").string(), "tail", "--log-dir", logs_.string(), "-o", "cat"}), 0)
      << out_;
  EXPECT_EQ(out_, "web1 says hello\n");
  EXPECT_EQ(run({"--config", elsewhere_.string(), "hosts", "--config", config_.string(), "-o", "cat"}), 0) << out_;
  EXPECT_EQ(out_, "web1\n");
}

TEST_F(RootOptions, TheDaemonsOwnOptionsBeforeASubcommandAreRefused) {
  struct Case {
    std::string option, sub;
    std::vector<std::string> args;
  };
  for (const Case& c : {Case{"--listen", "tail", {"--listen", "127.0.0.1:1", "tail", "--log-dir", logs_.string()}},
                        Case{"--journal", "hosts", {"--journal", "hosts", "--config", config_.string()}},
                        Case{"--http", "tail", {"--http", "", "tail", "--log-dir", logs_.string()}},
                        Case{"--log-dir", "check-config", {"--log-dir", logs_.string(), "check-config", config_.string()}}}) {
    EXPECT_EQ(run(c.args), 2) << c.option << " " << c.sub << ": " << out_;
    EXPECT_NE(out_.find("lastgasp-receiver: " + c.option + " is the daemon's option: " + c.sub + " does not take it"),
              std::string::npos)
        << out_;
  }
}

// The daemon with its stdout and stderr on a terminal of the test's own, until it says SEEN.
std::string daemon_on_a_terminal(const std::vector<std::string>& args, const std::string& seen) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  EXPECT_GE(master, 0);
  EXPECT_EQ(::grantpt(master), 0);
  EXPECT_EQ(::unlockpt(master), 0);
  std::string slave = ::ptsname(master);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    int tty = ::open(slave.c_str(), O_RDWR);
    ::dup2(tty, STDOUT_FILENO);
    ::dup2(tty, STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  std::string screen;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (screen.find(seen) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    screen.append(buf, static_cast<std::size_t>(n));
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ::close(master);
  return screen;
}

class Notices : public ::testing::Test {
 protected:
  std::vector<std::string> daemon_args() {
    std::ofstream(scratch_.path() / "rx.toml").flush();
    return {kReceiverBinary, "--config", (scratch_.path() / "rx.toml").string(), "--http", "", "--listen",
            "127.0.0.1:" + std::to_string(free_port()), "--log-dir", (scratch_.path() / "logs").string()};
  }
  TempDir scratch_;
};

TEST_F(Notices, PlainOnATerminal) {
  std::string screen = daemon_on_a_terminal(daemon_args(), "listening on");
  EXPECT_NE(screen.find("lastgasp-receiver: listening on udp 127.0.0.1:"), std::string::npos) << screen;
  EXPECT_EQ(screen.find("<6>"), std::string::npos) << screen;
}

// sd-daemon(3): JOURNAL_STREAM names stderr's device and inode when stderr is the journal.
TEST_F(Notices, WithTheirLevelOnlyWhereJournalStreamIsStderr) {
  auto args = daemon_args();
  args.insert(args.begin(), {"/bin/sh", "-c", "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" \"$@\""});
  ReceiverProcess journal(args);
  EXPECT_NE(journal.stderr_text().find("<6>lastgasp-receiver: listening on udp 127.0.0.1:"), std::string::npos)
      << journal.stderr_text();
  ReceiverProcess elsewhere(daemon_args(), "listening on", {"JOURNAL_STREAM=1:1"});
  EXPECT_NE(elsewhere.stderr_text().find("lastgasp-receiver: listening on udp 127.0.0.1:"), std::string::npos)
      << elsewhere.stderr_text();
  EXPECT_EQ(elsewhere.stderr_text().find("<6>"), std::string::npos) << "another stream's: " << elsewhere.stderr_text();
}

}  // namespace
}  // namespace lastgasp::test
