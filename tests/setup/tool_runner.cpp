#include "tool_runner.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

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

}  // namespace lastgasp::setup::testing
