#include "disk_quota.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>
#include <queue>

#include "file_sink.hpp"
#include "numbers.hpp"
#include "pstore_store.hpp"
#include "zstd_file.hpp"

namespace lastgasp::sinks {

namespace {

int open_subdir(int parent, const std::string& name) {
  return ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

// The directory holding HOST/PATH, reached without following a link; -1 with errno when it cannot be.
int open_parent(int root_fd, const std::string& host, std::string_view path) {
  int dir = open_subdir(root_fd, host);
  for (auto slash = path.find('/'); dir >= 0 && slash != std::string_view::npos; slash = path.find('/')) {
    int sub = open_subdir(dir, std::string(path.substr(0, slash)));
    ::close(dir);
    dir = sub;
    path.remove_prefix(slash + 1);
  }
  return dir;
}

// N of console.log.N or console.log.N.zst (N >= 1), or nothing.
std::optional<unsigned> rotated_generation(std::string_view name) {
  std::string prefix = std::string(kConsoleLog) + ".";
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  if (name.ends_with(kZstdSuffix)) name.remove_suffix(kZstdSuffix.size());
  auto n = parse_number<unsigned>(name);
  if (n == 0u) return std::nullopt;
  return n;
}

// What a regular file of ours at PATH (relative to the host's directory) is to the quota.
FileRole role_of(std::string_view path) {
  if (path == kConsoleLog) return FileRole::current_log;
  if (rotated_generation(path)) return FileRole::rotated_log;
  auto slash = path.find('/');
  std::string_view top = path.substr(0, slash), rest = slash == path.npos ? "" : path.substr(slash + 1);
  if (top == "incidents" && !rest.empty() && rest.find('/') == rest.npos) return FileRole::incident;
  // pstore/<boot_id>/<record>; the index and the temporaries (".name.part") stay.
  auto record = rest.find('/');
  if (top == "pstore" && record != rest.npos && rest[record + 1] != '.') return FileRole::pstore_copy;
  return FileRole::kept;
}

// The directories whose files are ours to count one by one: incidents/, pstore/ and its boots.
bool descends_into(std::string_view path) {
  return path == "incidents" || path == "pstore" ||
         (path.starts_with("pstore/") && path.find('/', sizeof "pstore/" - 1) == path.npos);
}

// A file with a second hard link may be anyone's: it costs us nothing and is never ours to remove.
DiskFile file_of(std::string path, const struct stat& st) {
  DiskFile f;
  bool ours = S_ISDIR(st.st_mode) || st.st_nlink == 1;
  if (ours) f.bytes = std::max<std::uint64_t>(st.st_size, static_cast<std::uint64_t>(st.st_blocks) * 512);
  if (S_ISREG(st.st_mode) && st.st_nlink == 1) f.role = role_of(path);
  if (f.role == FileRole::rotated_log) f.generation = *rotated_generation(path);
  f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  f.inode = st.st_ino;
  f.path = std::move(path);
  return f;
}

void scan_directory(int dir, const std::string& prefix, std::vector<DiskFile>& files) {
  for_each_entry(dir, [&](const std::string& name) {
    struct stat st{};
    std::string path = prefix + name;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;  // gone meanwhile
    files.push_back(file_of(path, st));
    if (!S_ISDIR(st.st_mode) || !descends_into(path)) return;
    Fd sub(open_subdir(dir, name));  // O_NOFOLLOW: a link put there since the fstatat is not followed
    if (sub) scan_directory(sub.get(), path + "/", files);
  });
}

std::uint64_t total_bytes(const std::vector<DiskFile>& files) {
  std::uint64_t sum = 0;
  for (const DiskFile& f : files) sum += f.bytes;
  return sum;
}

// Oldest first within a role: a higher generation is an older rotated log; others by time, then name.
bool goes_before(const DiskFile& a, const DiskFile& b) {
  if (a.role != b.role) return a.role < b.role;
  if (a.generation != b.generation) return a.generation > b.generation;
  if (a.mtime_ns != b.mtime_ns) return a.mtime_ns < b.mtime_ns;
  return a.path < b.path;
}

// Compresses HOST_DIR/NAME into NAME.zst, which takes its place. False when NAME stays as it is.
bool compress_rotated_log(int host_dir, std::mutex& renames, const std::string& name) {
  Fd from(::openat(host_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st{};
  if (!from || ::fstat(from.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) return false;
  const char* temporary = ".console.log.zst.part";  // one worker: one at a time
  ::unlinkat(host_dir, temporary, 0);                // a crash's leftover
  Fd to(::openat(host_dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777));
  bool ok = to && zstd_compress(from.get(), to.get()) && ::fsync(to.get()) == 0;
  std::string compressed = name + std::string(kZstdSuffix);
  // Rotation may have moved NAME meanwhile (NAME.zst moves with it): only the file that was read is replaced.
  auto still_there = [&] {
    struct stat now{};
    return ::fstatat(host_dir, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino;
  };
  {
    std::lock_guard lock(renames);
    ok = ok && still_there() && ::renameat(host_dir, temporary, host_dir, compressed.c_str()) == 0;
  }
  if (!ok) {
    ::unlinkat(host_dir, temporary, 0);
    return false;
  }
  // The compressed copy is durable before the original goes; a crash in between leaves both,
  // and the next pass compresses again over the copy.
  ::fsync(host_dir);
  std::lock_guard lock(renames);
  return still_there() && ::unlinkat(host_dir, name.c_str(), 0) == 0;
}

}  // namespace

unsigned compress_rotated_logs(const LogDirectory& dir, const std::string& host, unsigned& failed) {
  Fd host_dir(open_subdir(dir.root_fd(), host));
  if (!host_dir) return 0;
  std::vector<std::string> plain;
  for_each_entry(host_dir.get(), [&](const std::string& name) {
    if (rotated_generation(name) && !name.ends_with(kZstdSuffix)) plain.push_back(name);
  });
  unsigned compressed = 0;
  for (const std::string& name : plain) ++(compress_rotated_log(host_dir.get(), dir.rename_lock(), name) ? compressed : failed);
  return compressed;
}

std::vector<DiskFile> scan_host(int root_fd, const std::string& host) {
  std::vector<DiskFile> files;
  Fd dir(open_subdir(root_fd, host));  // a host "directory" that is a link is not ours
  struct stat st{};
  if (!dir || ::fstat(dir.get(), &st) != 0) return files;
  files.push_back(file_of("", st));
  scan_directory(dir.get(), "", files);
  return files;
}

std::vector<DiskFile> deletion_order(const std::string& host, std::vector<DiskFile> files,
                                     const std::set<std::string>& open_incidents) {
  std::erase_if(files, [&](const DiskFile& f) {
    return f.role == FileRole::kept || (f.role == FileRole::incident && open_incidents.contains(host + "/" + f.path));
  });
  std::sort(files.begin(), files.end(), goes_before);
  return files;
}

// The files each host may still give up in this pass, scanned once when first needed.
struct QuotaEnforcer::Candidates {
  std::deque<DiskFile>& of(const std::string& host) {
    auto [it, fresh] = by_host.try_emplace(host);
    if (fresh) {
      std::vector<DiskFile> files = scan_host(enforcer.dir_.root_fd(), host);
      enforcer.usage_[host] = total_bytes(files);
      for (DiskFile& f : deletion_order(host, std::move(files), open_incidents)) it->second.push_back(std::move(f));
    }
    return it->second;
  }
  QuotaEnforcer& enforcer;
  const std::set<std::string>& open_incidents;
  std::map<std::string, std::deque<DiskFile>> by_host;
};

void QuotaEnforcer::rescan_all() {
  usage_.clear();
  for (const std::string& host : dir_.host_names())
    if (std::uint64_t bytes = total_bytes(scan_host(dir_.root_fd(), host))) usage_[host] = bytes;
}

void QuotaEnforcer::recount(const std::string& host) {
  usage_[host] = total_bytes(scan_host(dir_.root_fd(), host));
}

std::uint64_t QuotaEnforcer::used() const {
  std::uint64_t sum = 0;
  for (const auto& [host, bytes] : usage_) sum += bytes;
  return sum;
}

std::uint64_t QuotaEnforcer::free_bytes() const {
  struct statvfs fs{};
  return ::fstatvfs(dir_.root_fd(), &fs) == 0 ? std::uint64_t(fs.f_bavail) * fs.f_frsize : 0;
}

// How far free space is below min_free, in bytes.
std::uint64_t QuotaEnforcer::floor_shortfall() const {
  struct statvfs fs{};
  if (::fstatvfs(dir_.root_fd(), &fs) != 0) return 0;
  std::uint64_t floor = quotas_.min_free_bytes ? quotas_.min_free_bytes
                                               : std::uint64_t(fs.f_blocks) * fs.f_frsize / 100 * quotas_.min_free_percent;
  std::uint64_t available = std::uint64_t(fs.f_bavail) * fs.f_frsize;
  return available < floor ? floor - available : 0;
}

void QuotaEnforcer::enforce(const std::set<std::string>& open_incidents, std::vector<std::string>& rotate_away) {
  Candidates candidates{*this, open_incidents, {}};
  if (quotas_.host)
    for (auto& [host, bytes] : usage_)
      if (bytes > quotas_.host) trim_host(host, candidates, rotate_away);
  trim_largest(candidates, rotate_away);
}

void QuotaEnforcer::trim_host(const std::string& host, Candidates& candidates, std::vector<std::string>& rotate_away) {
  std::deque<DiskFile>& files = candidates.of(host);
  std::uint64_t& bytes = usage_[host];
  while (bytes > quotas_.host && !files.empty()) {
    if (files.front().role == FileRole::current_log) {
      rotate_away.push_back(host);
      ++counters_.logs_rotated_away;
      return;
    }
    if (remove(host, files.front(), "host_quota")) bytes -= std::min(bytes, files.front().bytes);
    files.pop_front();
  }
}

// Over disk_quota or under min_free: the host using the most gives up its next file, one at a
// time, so that the largest hosts shrink towards each other. Current logs go only once no host
// has anything else left.
void QuotaEnforcer::trim_largest(Candidates& candidates, std::vector<std::string>& rotate_away) {
  std::uint64_t used_now = used();
  std::uint64_t over = quotas_.total && used_now > quotas_.total ? used_now - quotas_.total : 0;
  std::uint64_t shortfall = floor_shortfall();
  const char* bound = over >= shortfall ? "disk_quota" : "min_free";
  std::uint64_t needed = std::max(over, shortfall), freed = 0;
  if (needed == 0) return;
  std::priority_queue<std::pair<std::uint64_t, std::string>> largest;
  for (const auto& [host, bytes] : usage_) largest.emplace(bytes, host);
  std::vector<std::string> only_current_log;  // largest first
  while (freed < needed && !largest.empty()) {
    auto [bytes, host] = largest.top();
    largest.pop();
    std::deque<DiskFile>& files = candidates.of(host);  // counts the host exactly the first time
    if (usage_[host] != bytes) {                       // it was not what the estimate said: place it again
      largest.emplace(usage_[host], host);
      continue;
    }
    if (files.empty()) continue;
    if (files.front().role == FileRole::current_log) {
      only_current_log.push_back(host);
      continue;
    }
    if (remove(host, files.front(), bound)) {
      usage_[host] -= std::min(usage_[host], files.front().bytes);
      freed += files.front().bytes;
    }
    files.pop_front();
    largest.emplace(usage_[host], host);
  }
  for (const std::string& host : only_current_log) {
    if (freed >= needed) break;
    rotate_away.push_back(host);
    ++counters_.logs_rotated_away;
    freed += candidates.of(host).front().bytes;
  }
}

// Removes HOST/FILE if that name is still the file that was scanned.
bool QuotaEnforcer::remove(const std::string& host, const DiskFile& file, const char* bound) {
  auto slash = file.path.rfind('/');
  std::string leaf = slash == std::string::npos ? file.path : file.path.substr(slash + 1);
  Fd parent(open_parent(dir_.root_fd(), host, file.path));
  if (!parent) return false;
  {
    std::lock_guard lock(dir_.rename_lock());
    struct stat st{};
    if (::fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_ino != file.inode || st.st_nlink != 1)
      return false;  // renamed, replaced or gone since the scan: counted again next time
    if (::unlinkat(parent.get(), leaf.c_str(), 0) != 0) {
      ++counters_.remove_errors;
      return false;
    }
  }
  ++counters_.files_removed;
  counters_.bytes_removed += file.bytes;
  // The boot's directory stays, even empty: an upload may be filing into it right now.
  if (file.role == FileRole::pstore_copy) drop_from_index(dir_, host, file.path);
  removed_(host, file, bound);
  return true;
}

}  // namespace lastgasp::sinks
