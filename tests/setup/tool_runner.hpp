// Runs the real lastgasp-setup binary, optionally inside a network namespace,
// and captures its exit status, stdout and stderr.
#pragma once

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

}  // namespace lastgasp::setup::testing
