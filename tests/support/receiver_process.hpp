// Runs the real lastgasp-receiver binary for a test: a private log directory,
// a free loopback port, stderr captured, stopped with a real signal.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lastgasp::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A port free for both UDP and TCP on ADDRESS a moment ago (the receiver binds both).
std::uint16_t free_port(const std::string& address = "127.0.0.1");

class ReceiverProcess {
 public:
  // Starts the receiver with ARGS and, unless READY is empty, waits until its output says READY.
  explicit ReceiverProcess(std::vector<std::string> args, const std::string& ready = "listening on",
                           const std::vector<std::string>& environment = {});
  ~ReceiverProcess();

  // Sends SIGNAL and waits for the exit; returns the exit status.
  int stop(int signal = 15);
  void kill_hard();
  // Sends SIGNAL and returns at once (SIGHUP, or a SIGTERM the test times itself); never once
  // stopped, since kill(-1, ...) as root signals every process on the machine.
  void signal(int signal);
  std::string stderr_text() const;  // stdout and stderr, as written so far
  pid_t pid() const { return pid_; }

 private:
  TempDir scratch_;
  pid_t pid_ = -1;
};

// Runs BINARY with ARGS to completion; returns the exit status, OUTPUT gets stdout+stderr.
int run_command(const std::vector<std::string>& args, std::string& output);

std::string read_file(const std::filesystem::path& path);
std::vector<std::string> read_lines(const std::filesystem::path& path);

// Whether every UDP socket bound to PORT has an empty receive queue (/proc/net/udp and udp6):
// the receiver has read what was sent to it, which on loopback is there once send() returns.
bool udp_queues_empty(std::uint16_t port);

// Polls PREDICATE until it is true or TIMEOUT passes.
template <class F>
bool eventually(F predicate, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    ::usleep(10'000);
  }
  return predicate();
}

class UdpSender {
 public:
  // A socket bound to BIND_ADDRESS (port 0 = any), sending to TARGET:PORT.
  UdpSender(const std::string& target, std::uint16_t port, const std::string& bind_address = "",
            std::uint16_t bind_port = 0);
  ~UdpSender();
  void send(const std::string& payload);
  std::uint16_t local_port() const;

 private:
  int fd_ = -1;
  std::vector<char> target_;
};

inline const std::string kReceiverBinary = LASTGASP_RECEIVER_BIN;

}  // namespace lastgasp::test
