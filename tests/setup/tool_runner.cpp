#include "tool_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace lastgasp::setup::testing {

namespace {

std::string quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

void sh(const std::string& command) {
  int status = std::system((command + " >/dev/null 2>&1").c_str());
  if (status != 0) throw std::runtime_error("command failed: " + command);
}

std::string sh_output(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::string output;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  ::pclose(pipe);
  return output;
}

ToolResult run_tool(const std::vector<std::string>& args, const std::string& ns) {
  std::string command = ns.empty() ? "" : "ip netns exec " + quote(ns) + " ";
  command += quote(LASTGASP_SETUP_BINARY);
  for (const std::string& arg : args) command += " " + quote(arg);
  auto base = std::filesystem::temp_directory_path() / ("lastgasp-setup-run-" + std::to_string(::getpid()));
  command += " >" + quote(base.string() + ".out") + " 2>" + quote(base.string() + ".err");
  int status = std::system(command.c_str());
  ToolResult result;
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(base.string() + ".out");
  result.err = slurp(base.string() + ".err");
  std::filesystem::remove(base.string() + ".out");
  std::filesystem::remove(base.string() + ".err");
  return result;
}

BackgroundTool::BackgroundTool(const std::vector<std::string>& args, const std::string& ns) {
  std::string unique = std::to_string(::getpid()) + "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
  auto base = std::filesystem::temp_directory_path() / ("lastgasp-setup-bg-" + unique);
  out_ = base.string() + ".out";
  err_ = base.string() + ".err";
  // `ip netns exec` execs the tool: the pid is the tool's, and gets the SIGTERM.
  std::vector<std::string> argv = {"ip", "netns", "exec", ns, LASTGASP_SETUP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&files, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int error = posix_spawnp(&pid_, "ip", &files, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (error != 0) throw std::runtime_error("cannot start lastgasp-setup in the background");
}

BackgroundTool::~BackgroundTool() {
  stop();
  std::filesystem::remove(out_);
  std::filesystem::remove(err_);
}

std::string BackgroundTool::out() const { return slurp(out_); }
std::string BackgroundTool::err() const { return slurp(err_); }

void BackgroundTool::pause() const { ::kill(pid_, SIGSTOP); }
void BackgroundTool::resume() const { ::kill(pid_, SIGCONT); }

int BackgroundTool::stop() {
  if (pid_ < 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::optional<int> BackgroundTool::wait(std::chrono::milliseconds timeout) {
  int status = 0;
  if (pid_ < 0 || !eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout)) return std::nullopt;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace lastgasp::setup::testing
