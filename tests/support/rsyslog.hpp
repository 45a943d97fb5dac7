// A real rsyslogd, started by a test on loopback with its own config, writing
// what it receives to a file, one line per message, in a format the test reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "receiver_process.hpp"

namespace lastgasp::test {

// One received message, as rsyslog parsed it.
struct SyslogLine {
  std::string host, app, msgid, pri, sd, msg;
};

class Rsyslog {
 public:
  // Listens on 127.0.0.1:PORT with INPUT, the input() statement's extra parameters and the
  // module() lines it needs (see the tests); waits until the port takes connections.
  Rsyslog(const std::filesystem::path& dir, std::uint16_t port, const std::string& modules,
          const std::string& input_type, const std::string& input_params = "");
  ~Rsyslog();
  void stop();  // SIGTERM, and waits
  void kill();  // SIGKILL: what it had not written is gone
  void restart();  // after stop() or kill(): the same config, appending to the same file
  // SIGSTOP and SIGCONT: a destination that takes nothing for a while, its connections open.
  void pause();
  void resume();
  std::vector<SyslogLine> lines() const;
  std::uint16_t port() const { return port_; }

 private:
  void start();
  std::filesystem::path dir_;
  std::uint16_t port_;
  std::unique_ptr<ReceiverProcess> process_;
};

// Waits until 127.0.0.1:PORT accepts a TCP connection.
bool tcp_port_open(std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace lastgasp::test
