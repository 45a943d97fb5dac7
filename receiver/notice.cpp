#include "notice.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace lastgasp {

namespace {

// sd-daemon(3): stderr is connected to the journal when $JOURNAL_STREAM names its device and
// inode. Anywhere else (a terminal, a file, a pipe) a "<6>" would only be noise in the text.
bool stderr_is_the_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (!stream || ::fstat(STDERR_FILENO, &st) != 0) return false;
  std::uintmax_t device = 0, inode = 0;
  char end = 0;
  return std::sscanf(stream, "%" SCNuMAX ":%" SCNuMAX "%c", &device, &inode, &end) == 2 &&
         device == static_cast<std::uintmax_t>(st.st_dev) && inode == static_cast<std::uintmax_t>(st.st_ino);
}

}  // namespace

void notice(Severity severity, std::string_view message) {
  // Asked once: stderr stays where it is for the life of the daemon.
  static const bool with_level = stderr_is_the_journal();
  std::string line = with_level ? "<" + std::to_string(static_cast<int>(severity)) + ">" : "";
  line += "lastgasp-receiver: ";
  line.append(message);
  line += '\n';
  // One write, so concurrent messages never interleave mid-line.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace lastgasp
