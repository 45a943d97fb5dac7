#include "log_reader.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <iostream>
#include <stdexcept>

#include "sinks/log_line.hpp"
#include "sinks/zstd_file.hpp"

namespace lastgasp::tail {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr int kRescanMillis = 1000;  // a safety net under inotify
constexpr unsigned kMaxRotated = 1000;

std::string log_file(unsigned generation) {
  return generation == 0 ? sinks::kConsoleLog : std::string(sinks::kConsoleLog) + "." + std::to_string(generation);
}

// Opens a log to read, or -1. Whoever can write to LOG_DIR could put a FIFO
// where a log goes: open() would wait for a writer forever, so it does not
// block, and anything but a regular file is no log.
int open_log(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat st {};
  if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) fd = (::close(fd), -1);
  return fd;
}

// Opens console.log, console.log.N, or else the compressed console.log.N.zst (COMPRESSED says which); -1 if none.
int open_generation(const fs::path& dir, unsigned generation, bool& compressed) {
  compressed = false;
  int fd = open_log(dir / log_file(generation));
  if (fd >= 0 || generation == 0) return fd;
  compressed = true;
  return open_log(dir / (log_file(generation) + std::string(sinks::kZstdSuffix)));
}

// Adds to MINE (newest first) what FILTER wants of HOST's compressed log FD, keeping no more
// than N in all. A zstd stream cannot be read backwards: it is read forwards once, holding only
// the newest entries wanted. Returns whether older files are still wanted.
bool read_compressed(int fd, const std::string& host, const Filter& filter, std::optional<std::size_t> n,
                     std::vector<Entry>& mine) {
  std::deque<Entry> wanted;
  bool older_wanted = true;
  auto take = [&](std::string_view line) {
    auto entry = Entry::parse(host, line);
    if (!entry) return;
    if (filter.since_us && entry->recv_us < *filter.since_us) older_wanted = false;
    else if (filter.wants(*entry)) wanted.push_back(std::move(*entry));
    if (n && mine.size() + wanted.size() > *n) wanted.pop_front();
  };
  std::string partial, error;
  bool whole = sinks::zstd_decompress(fd, [&](std::string_view chunk) {
    partial.append(chunk);
    std::size_t start = 0;
    for (std::size_t newline; (newline = partial.find('\n', start)) != std::string::npos; start = newline + 1)
      take(std::string_view(partial).substr(start, newline - start));
    partial.erase(0, start);
    return true;
  }, error);
  if (!whole) std::cerr << "lastgasp-receiver tail: " << host << ": a compressed log is unreadable: " << error << "\n";
  std::move(wanted.rbegin(), wanted.rend(), std::back_inserter(mine));
  return older_wanted && (!n || mine.size() < *n);
}

// Calls VISIT on each complete line of FD's first END bytes, newest first, until it returns false.
template <class F>
bool for_each_line_backwards(int fd, off_t end, F&& visit) {
  std::string tail;  // bytes from POS not yet split into lines
  off_t pos = end;
  bool trimmed = false;  // the unfinished last line (still being written) is dropped first
  for (;;) {
    if (pos > 0) {
      auto size = static_cast<std::size_t>(std::min<off_t>(pos, kChunk));
      pos -= static_cast<off_t>(size);
      std::string chunk(size, '\0');
      if (::pread(fd, chunk.data(), size, pos) != static_cast<ssize_t>(size)) return true;
      tail.insert(0, chunk);
    }
    if (!trimmed) {
      auto last = tail.rfind('\n');
      if (last == std::string::npos) {
        if (pos > 0) continue;
        return true;
      }
      tail.resize(last);
      trimmed = true;
    }
    for (auto newline = tail.rfind('\n'); newline != std::string::npos; newline = tail.rfind('\n')) {
      if (!visit(std::string_view(tail).substr(newline + 1))) return false;
      tail.resize(newline);
    }
    if (pos == 0) return tail.empty() || visit(tail);
  }
}

}  // namespace

std::vector<std::string> list_hosts(const fs::path& log_dir, const Filter& filter) {
  std::vector<std::string> hosts;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(log_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory(ec) && fs::exists(entry.path() / sinks::kConsoleLog, ec) && filter.wants_host(name))
      hosts.push_back(name);
  }
  std::sort(hosts.begin(), hosts.end());
  return hosts;
}

std::vector<Entry> read_history(const fs::path& log_dir, const std::vector<std::string>& hosts, const Filter& filter,
                                std::optional<std::size_t> n, std::map<std::string, Position>& positions) {
  std::vector<Entry> all;
  for (const std::string& host : hosts) {
    std::vector<Entry> mine;  // newest first
    for (unsigned generation = 0; generation < kMaxRotated && (!n || mine.size() < *n); ++generation) {
      bool compressed = false;
      int fd = open_generation(log_dir / host, generation, compressed);
      if (fd < 0) break;
      struct stat st {};
      ::fstat(fd, &st);
      if (generation == 0) positions[host] = {st.st_ino, st.st_size};
      bool older_wanted = compressed ? read_compressed(fd, host, filter, n, mine)
                                     : for_each_line_backwards(fd, st.st_size, [&](std::string_view line) {
        auto entry = Entry::parse(host, line);
        if (!entry) return true;
        if (filter.since_us && entry->recv_us < *filter.since_us) return false;  // older lines are older still
        if (filter.wants(*entry)) mine.push_back(std::move(*entry));
        return !n || mine.size() < *n;
      });
      ::close(fd);
      if (!older_wanted) break;
    }
    std::move(mine.rbegin(), mine.rend(), std::back_inserter(all));
  }
  std::stable_sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.recv_us < b.recv_us; });
  if (n && all.size() > *n) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(*n));
  return all;
}

Follower::Follower(fs::path log_dir, Filter filter, Emit emit)
    : log_dir_(std::move(log_dir)), filter_(std::move(filter)), emit_(std::move(emit)) {
  inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_ < 0) throw std::runtime_error("inotify_init1 failed");
  int wd = ::inotify_add_watch(inotify_, log_dir_.c_str(), IN_CREATE | IN_MOVED_TO);
  if (wd >= 0) watches_[wd] = "";
}

Follower::~Follower() {
  for (auto& [host, f] : followed_)
    if (f.fd >= 0) ::close(f.fd);
  ::close(inotify_);
}

void Follower::add_host(const std::string& host, std::optional<Position> from) {
  Followed& f = followed_[host];
  int wd = ::inotify_add_watch(inotify_, (log_dir_ / host).c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO);
  if (wd >= 0) watches_[wd] = host;
  f.fd = open_log(log_dir_ / host / sinks::kConsoleLog);
  if (f.fd < 0) return;
  struct stat st {};
  ::fstat(f.fd, &st);
  f.inode = st.st_ino;
  // Start where the history stopped; if the file was rotated since, read the new one whole.
  if (from && from->inode == st.st_ino) ::lseek(f.fd, from->offset, SEEK_SET);
  read_new(host, f);
}

void Follower::discover_hosts() {
  for (const std::string& host : list_hosts(log_dir_, filter_))
    if (!followed_.contains(host)) add_host(host, std::nullopt);  // appeared while we run: from its start
}

void Follower::read_new(const std::string& host, Followed& f) {
  char buf[kChunk];
  for (ssize_t n; (n = ::read(f.fd, buf, sizeof buf)) > 0;) {
    f.partial.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t newline; (newline = f.partial.find('\n', start)) != std::string::npos; start = newline + 1) {
      auto entry = Entry::parse(host, std::string_view(f.partial).substr(start, newline - start));
      if (entry && filter_.wants(*entry)) emit_(*entry);
    }
    f.partial.erase(0, start);
  }
}

// Reads what is new; after a rotation, finishes the old file, then takes the new one from its start.
void Follower::check(const std::string& host) {
  Followed& f = followed_[host];
  if (f.fd >= 0) read_new(host, f);
  struct stat st {};
  if (::stat((log_dir_ / host / sinks::kConsoleLog).c_str(), &st) != 0 || st.st_ino == f.inode) return;
  if (f.fd >= 0) ::close(f.fd);
  f.fd = open_log(log_dir_ / host / sinks::kConsoleLog);
  f.inode = st.st_ino;
  f.partial.clear();
  if (f.fd >= 0) read_new(host, f);
}

void Follower::run(const std::map<std::string, Position>& positions) {
  for (const auto& [host, position] : positions) add_host(host, position);
  discover_hosts();
  alignas(inotify_event) char events[16 * 1024];
  for (;;) {
    pollfd p{inotify_, POLLIN, 0};
    int ready = ::poll(&p, 1, kRescanMillis);
    std::vector<std::string> touched;
    bool rescan = ready <= 0;
    for (ssize_t len; (len = ::read(inotify_, events, sizeof events)) > 0;) {
      for (char* at = events; at < events + len;) {
        auto* ev = reinterpret_cast<inotify_event*>(at);
        auto it = watches_.find(ev->wd);
        if (it != watches_.end()) {
          if (it->second.empty()) rescan = true;
          else touched.push_back(it->second);
        }
        at += sizeof(inotify_event) + ev->len;
      }
    }
    if (rescan) {
      discover_hosts();
      for (auto& [host, f] : followed_) check(host);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const std::string& host : touched) check(host);
  }
}

}  // namespace lastgasp::tail
