#include "notice.hpp"

#include <unistd.h>

#include <string>

namespace lastgasp {

void notice(Severity severity, std::string_view message) {
  std::string line = "<" + std::to_string(static_cast<int>(severity)) + ">lastgasp-receiver: ";
  line.append(message);
  line += '\n';
  // One write, so concurrent messages never interleave mid-line.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace lastgasp
