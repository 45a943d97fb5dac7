// Runs the real lastgasp-setup binary, optionally inside a network namespace,
// and captures its exit status, stdout and stderr.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lastgasp::setup::testing {

struct ToolResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs a shell command; throws std::runtime_error naming it when it fails.
void sh(const std::string& command);
// Runs a shell command and returns its stdout.
std::string sh_output(const std::string& command);

// lastgasp-setup ARGS, inside network namespace NS when it is not empty.
ToolResult run_tool(const std::vector<std::string>& args, const std::string& ns = "");

// lastgasp-setup ARGS as a long-running process (watch) inside network
// namespace NS, until stop() or the end of the object, which send it SIGTERM.
class BackgroundTool {
 public:
  BackgroundTool(const std::vector<std::string>& args, const std::string& ns);
  ~BackgroundTool();
  BackgroundTool(const BackgroundTool&) = delete;
  BackgroundTool& operator=(const BackgroundTool&) = delete;

  std::string out() const;
  std::string err() const;
  // SIGSTOP and SIGCONT: a stopped process reads nothing, and its socket fills up.
  void pause() const;
  void resume() const;
  // SIGTERM, then its exit status (-1 when a signal ended it).
  int stop();
  // Its exit status once it has ended by itself, or nothing if it has not within TIMEOUT.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::filesystem::path out_, err_;
};

// Whether CONDITION holds within TIMEOUT, asked every 10 ms.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace lastgasp::setup::testing
