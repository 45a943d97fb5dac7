#include "log_directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>  // renameat2
#include <string_view>
#include <system_error>

#include "notice.hpp"
#include "zstd_file.hpp"

namespace lastgasp::sinks {

namespace {

constexpr mode_t kDirMode = 0750;   // group-readable, so operators in the group can tail
constexpr mode_t kFileMode = 0640;

int open_dir_at(int parent, const char* name, bool create) {
  if (create && ::mkdirat(parent, name, kDirMode) != 0 && errno != EEXIST) return -1;
  return ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

constexpr auto kRefusalReportInterval = std::chrono::seconds(10);
constexpr std::size_t kMaxRefusalsRemembered = 256;
constexpr const char* kNotARegularFile = "it is not a regular file (a FIFO, socket, device or directory)";

// Why a file that opened is not ours to use, or nullptr.
const char* planted(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return kNotARegularFile;
  if (st.st_nlink > 1) return "it has another hard link, so it may be any file on this filesystem (/etc/shadow)";
  return nullptr;
}

int planted_errno(const struct stat& st) {
  return S_ISDIR(st.st_mode) ? EISDIR : S_ISREG(st.st_mode) ? EMLINK : ENXIO;
}

// Why a failed open means something was planted, or nullptr for an ordinary failure.
const char* planted(int open_errno) {
  if (open_errno == ELOOP) return "it is a symbolic link";
  if (open_errno == ENXIO || open_errno == EISDIR) return kNotARegularFile;  // a FIFO with no reader, a socket; a directory
  return nullptr;
}

// A last line cut short (power loss mid-write) would have the next line glued to
// it: end it with '\n' first, its text left as it was. Returns FD, or -1 with
// errno (FD closed) when that fails: better no log than a glued line.
int end_cut_line(int fd) {
  struct stat st {};
  char last = '\n';
  bool ended = ::fstat(fd, &st) == 0 && (st.st_size == 0 || ::pread(fd, &last, 1, st.st_size - 1) == 1) &&
               (last == '\n' || write_all(fd, "\n", 1) == 1);
  if (ended) return fd;
  int error = errno;
  ::close(fd);
  errno = error;
  return -1;
}

}  // namespace

LogDirectory::LogDirectory(const std::filesystem::path& root) : root_(root) {
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

int LogDirectory::open_directory(const std::string& host, const std::string& relative, bool create) const {
  Fd dir(open_host_dir(host, create));
  std::string_view rest = relative;
  // Walk down, creating each directory if asked; none may be a link or a way up.
  while (dir && !rest.empty()) {
    auto slash = rest.find('/');
    std::string component(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    dir.reset(component.empty() || component == "." || component == ".." ? (errno = EINVAL, -1)
                                                                           : open_dir_at(dir.get(), component.c_str(), create));
  }
  return dir.release();
}

std::vector<std::string> LogDirectory::host_names() const {
  std::vector<std::string> names;
  int fd = ::openat(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* listing = fd < 0 ? nullptr : ::fdopendir(fd);
  if (!listing) {
    if (fd >= 0) ::close(fd);
    return names;
  }
  while (const dirent* entry = ::readdir(listing)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != ".." && (entry->d_type == DT_DIR || entry->d_type == DT_UNKNOWN)) names.emplace_back(name);
  }
  ::closedir(listing);
  return names;
}

int LogDirectory::open_append(const std::string& host, const std::string& relative, bool exclusive) const {
  auto slash = relative.rfind('/');
  Fd dir(open_directory(host, slash == std::string::npos ? "" : relative.substr(0, slash), true));
  if (!dir) return -1;
  std::string name = slash == std::string::npos ? relative : relative.substr(slash + 1);
  // Read and write: the last byte tells whether the last line was cut.
  int flags = O_RDWR | O_APPEND | O_CREAT | (exclusive ? O_EXCL : 0);
  int fd = open_file_at(dir.get(), name, flags, host + "/" + relative);
  return fd >= 0 ? end_cut_line(fd) : -1;
}

int LogDirectory::open_read(const std::string& host, const std::string& relative) const {
  Fd dir(open_host_dir(host, false));
  if (!dir) return -1;
  return open_file_at(dir.get(), relative, O_RDONLY, host + "/" + relative);
}

bool LogDirectory::replace(const std::string& host, const std::string& name, const std::string& content) const {
  Fd dir(open_host_dir(host, true));
  if (!dir) return false;
  std::string temporary = name + ".tmp";
  Fd file(reuse_temporary(dir.get(), temporary, host + "/" + temporary));
  if (!file) {  // a fresh one
    bool gone = ::unlinkat(dir.get(), temporary.c_str(), 0) == 0 || errno == ENOENT;
    file.reset(gone ? open_file_at(dir.get(), temporary, O_WRONLY | O_CREAT | O_EXCL, host + "/" + temporary) : -1);
  }
  bool ok = file && write_all(file.get(), content.data(), content.size()) == content.size();
  file.reset(-1);
  // The two names swap, and the old content stays as the temporary for the next save. A rename
  // would free an inode each time and the next save allocate one: on ext4 an allocation scans
  // the inode table for recently freed ones, which made a fleet's saves the writer's largest cost.
  return ok && (::renameat2(dir.get(), temporary.c_str(), dir.get(), name.c_str(), RENAME_EXCHANGE) == 0 ||
                (errno == ENOENT && ::renameat(dir.get(), temporary.c_str(), dir.get(), name.c_str()) == 0));
}

// The temporary left by the last save, emptied, if open_file_at finds it still ours alone. Anything
// it refuses (planted, or a hard link whose other name a truncation would empty too) is replaced
// by a fresh file. -1 when there is none to reuse.
int LogDirectory::reuse_temporary(int dir, const std::string& temporary, const std::string& where) const {
  int fd = open_file_at(dir, temporary, O_WRONLY, where);
  if (fd < 0) return -1;
  if (::ftruncate(fd, 0) == 0) return fd;
  ::close(fd);
  return -1;
}

bool LogDirectory::rotate(const std::string& host, const std::string& name, unsigned keep) const {
  Fd dir(open_host_dir(host, false));
  if (!dir) return false;
  auto generation = [&](unsigned n, std::string_view suffix) {
    return (n == 0 ? name : name + "." + std::to_string(n)) + std::string(suffix);
  };
  // The disk worker compresses NAME.N into NAME.N.zst and removes names it scanned: not while they move.
  std::lock_guard lock(rename_lock_);
  bool ok = true;
  for (std::string_view suffix : {std::string_view(), kZstdSuffix})
    ok = ok && (::unlinkat(dir.get(), generation(keep, suffix).c_str(), 0) == 0 || errno == ENOENT);
  for (unsigned n = keep; n > 0 && ok; --n)
    for (std::string_view suffix : {std::string_view(), kZstdSuffix})
      ok = ok && (::renameat(dir.get(), generation(n - 1, suffix).c_str(), dir.get(), generation(n, suffix).c_str()) == 0 ||
                  errno == ENOENT);
  return ok;
}

// Every file below LOG_DIR is opened here. Anyone else who can write to LOG_DIR
// could have planted something where a file of ours goes:
// - a symbolic link would take our writes anywhere: O_NOFOLLOW;
// - a FIFO makes open() wait for its other end, the daemon with it, deaf to
//   SIGTERM: O_NONBLOCK (cleared once open), and O_NOCTTY for a terminal;
// - a FIFO, socket, device or directory is no log: only a regular file is used;
// - a hard link to a file elsewhere (/etc/shadow) would be written through, or
//   copied into a group-readable incident file: a file with two links is refused.
int LogDirectory::open_file_at(int dir, const std::string& name, int flags, const std::string& where) const {
  int fd = ::openat(dir, name.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, kFileMode);
  if (fd < 0) return refuse(where, planted(errno), errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    int error = errno;
    ::close(fd);
    return refuse(where, nullptr, error);
  }
  if (const char* why = planted(st)) {
    ::close(fd);
    return refuse(where, why, planted_errno(st));
  }
  return fd;
}

// Says why WHERE was refused, if WHY is given. Returns -1 with errno ERROR.
int LogDirectory::refuse(const std::string& where, const char* why, int error) const {
  if (why && refusal_is_news(where))
    notice(Severity::error, "refusing " + (root_ / where).string() + ": " + why +
                                "; it is neither written nor read until someone removes it");
  errno = error;
  return -1;
}

// A refused log is retried at every flush: each path is named once every 10 s,
// and no more than kMaxRefusalsRemembered paths in that time, whatever was planted.
bool LogDirectory::refusal_is_news(const std::string& where) const {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(refusals_mutex_);
  std::erase_if(refusals_reported_, [&](const auto& report) { return now - report.second >= kRefusalReportInterval; });
  if (refusals_reported_.contains(where) || refusals_reported_.size() >= kMaxRefusalsRemembered) return false;
  refusals_reported_.emplace(where, now);
  return true;
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

void for_each_entry(int dir, const std::function<void(const std::string&)>& f) {
  int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* listing = fd < 0 ? nullptr : ::fdopendir(fd);
  if (!listing) {
    if (fd >= 0) ::close(fd);
    return;
  }
  while (const dirent* entry = ::readdir(listing)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") f(name);
  }
  ::closedir(listing);
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
