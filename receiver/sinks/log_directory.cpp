#include "log_directory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <system_error>

namespace lastgasp::sinks {

namespace {

constexpr mode_t kDirMode = 0750;   // group-readable, so operators in the group can tail
constexpr mode_t kFileMode = 0640;

int open_dir_at(int parent, const char* name, bool create) {
  if (create && ::mkdirat(parent, name, kDirMode) != 0 && errno != EEXIST) return -1;
  return ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

}  // namespace

LogDirectory::LogDirectory(const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  root_fd_ = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open log directory " + root.string());
}

LogDirectory::~LogDirectory() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

int LogDirectory::open_host_dir(const std::string& host, bool create) const {
  if (host.empty() || host == "." || host == ".." || host.find('/') != std::string::npos) {
    errno = EINVAL;
    return -1;
  }
  return open_dir_at(root_fd_, host.c_str(), create);
}

int LogDirectory::open_append(const std::string& host, const std::string& relative, bool exclusive) const {
  int dir = open_host_dir(host, true);
  if (dir < 0) return -1;
  std::string name = relative;
  // Walk down, creating each directory; none may be a link or a way up.
  for (auto slash = name.find('/'); slash != std::string::npos; slash = name.find('/')) {
    std::string component = name.substr(0, slash);
    int sub = component.empty() || component == "." || component == ".." ? (errno = EINVAL, -1)
                                                                          : open_dir_at(dir, component.c_str(), true);
    ::close(dir);
    if (sub < 0) return -1;
    dir = sub;
    name.erase(0, slash + 1);
  }
  int flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (exclusive ? O_EXCL : 0);
  int fd = ::openat(dir, name.c_str(), flags, kFileMode);
  int saved = errno;
  ::close(dir);
  errno = saved;
  return fd;
}

int LogDirectory::open_read(const std::string& host, const std::string& relative) const {
  int dir = open_host_dir(host, false);
  if (dir < 0) return -1;
  int fd = ::openat(dir, relative.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  int saved = errno;
  ::close(dir);
  errno = saved;
  return fd;
}

bool LogDirectory::replace(const std::string& host, const std::string& name, const std::string& content) const {
  int dir = open_host_dir(host, true);
  if (dir < 0) return false;
  std::string temporary = name + ".tmp";
  int fd = ::openat(dir, temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  bool ok = fd >= 0 && write_all(fd, content.data(), content.size()) == content.size();
  int saved = errno;
  if (fd >= 0) ::close(fd);
  ok = ok && ::renameat(dir, temporary.c_str(), dir, name.c_str()) == 0;
  if (!ok) saved = errno;
  ::close(dir);
  errno = saved;
  return ok;
}

bool LogDirectory::rotate(const std::string& host, const std::string& name, unsigned keep) const {
  int dir = open_host_dir(host, false);
  if (dir < 0) return false;
  bool ok = true;
  for (unsigned n = keep; n > 0 && ok; --n) {
    std::string from = n == 1 ? name : name + "." + std::to_string(n - 1);
    std::string to = name + "." + std::to_string(n);
    ok = ::renameat(dir, from.c_str(), dir, to.c_str()) == 0 || errno == ENOENT;
  }
  if (keep == 0) ok = ::unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT;
  int saved = errno;
  ::close(dir);
  errno = saved;
  return ok;
}

std::vector<std::string> read_last_lines(int fd, std::size_t max_lines, std::size_t max_bytes) {
  struct stat st{};
  if (::fstat(fd, &st) != 0 || st.st_size == 0 || max_lines == 0) return {};
  auto size = static_cast<std::size_t>(st.st_size);
  std::size_t want = std::min(size, max_bytes);
  std::string tail(want, '\0');
  ssize_t got = ::pread(fd, tail.data(), want, static_cast<off_t>(size - want));
  if (got <= 0) return {};
  tail.resize(static_cast<std::size_t>(got));
  std::string_view view(tail);
  if (want < size) {  // started mid-file: the first line is cut
    auto newline = view.find('\n');
    if (newline == std::string_view::npos) return {};
    view.remove_prefix(newline + 1);
  }
  auto last_newline = view.rfind('\n');  // an unfinished last line is not a line yet
  if (last_newline == std::string_view::npos) return {};
  view = view.substr(0, last_newline);
  std::vector<std::string> lines;
  while (lines.size() < max_lines) {
    auto newline = view.rfind('\n');
    lines.emplace_back(view.substr(newline == std::string_view::npos ? 0 : newline + 1));
    if (newline == std::string_view::npos) break;
    view = view.substr(0, newline);
  }
  return {lines.rbegin(), lines.rend()};
}

std::size_t write_all(int fd, const char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace lastgasp::sinks
