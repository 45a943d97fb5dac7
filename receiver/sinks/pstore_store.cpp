#include "pstore_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace lastgasp::sinks {

namespace {

// A boot id is a UUID, so no boot's directory can be called "index".
constexpr const char* kIndex = "pstore/index";
constexpr std::size_t kMaxIndexBytes = 16u << 20;
constexpr mode_t kFileMode = 0640;
constexpr int kMaxNameAttempts = 100;

std::error_code last_error() { return {errno, std::generic_category()}; }

StoreOutcome outcome(StoreResult result) {
  StoreOutcome o;
  o.result = result;
  return o;
}

StoreOutcome failure(std::error_code error) {
  StoreOutcome o = outcome(StoreResult::failed);
  o.error = error;
  return o;
}

// Writes BYTES to a temporary name in DIR, fsyncs it and renames it to NAME,
// or NAME.1, NAME.2 ... when a record of that name is already there. A failure
// leaves nothing behind: no empty or partial file can stand in for the record.
std::error_code write_new_file(int dir, const std::string& name, const std::string& bytes, std::string& stored_as) {
  // Record names never start with '.': a temporary cannot be taken for a record.
  std::string temporary = "." + name + ".part";
  ::unlinkat(dir, temporary.c_str(), 0);  // a crash's leftover
  int fd = ::openat(dir, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  if (fd < 0) return last_error();
  bool ok = write_all(fd, bytes.data(), bytes.size()) == bytes.size() && ::fsync(fd) == 0;
  std::error_code error = ok ? std::error_code{} : last_error();
  if (::close(fd) != 0 && ok) error = last_error();
  for (int attempt = 0; !error && attempt < kMaxNameAttempts; ++attempt) {
    stored_as = name + (attempt ? "." + std::to_string(attempt) : "");
    if (::renameat2(dir, temporary.c_str(), dir, stored_as.c_str(), RENAME_NOREPLACE) == 0) return {};
    if (errno != EEXIST) error = last_error();
  }
  ::unlinkat(dir, temporary.c_str(), 0);
  return error ? error : std::make_error_code(std::errc::file_exists);
}

// Appends LINE to FD and fsyncs it; on failure cuts back what it wrote, so that
// no half line is glued to the next one.
std::error_code append_synced(int fd, const std::string& line) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return last_error();
  if (write_all(fd, line.data(), line.size()) == line.size() && ::fsync(fd) == 0) return {};
  std::error_code error = last_error();
  if (::ftruncate(fd, st.st_size) == 0) ::fsync(fd);
  return error;
}

}  // namespace

bool PstoreStore::known(const std::string& host, const std::string& sha256) const {
  Fd index(dir_.open_read(host, kIndex));
  if (!index) return false;
  for (const std::string& line : read_last_lines(index.get(), SIZE_MAX, kMaxIndexBytes))
    if (line.compare(0, sha256.size(), sha256) == 0) return true;
  return false;
}

// Counts the records under HOST/pstore/<boot>/, and removes the temporaries a crash left there.
PstoreStore::Usage PstoreStore::scan(const std::string& host) const {
  Usage usage;
  Fd pstore(dir_.open_directory(host, "pstore", false));
  if (!pstore) return usage;
  for_each_entry(pstore.get(), [&](const std::string& boot_name) {
    Fd boot(::openat(pstore.get(), boot_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!boot) return;  // the index
    for_each_entry(boot.get(), [&](const std::string& file) {
      struct stat st{};
      if (file[0] == '.') ::unlinkat(boot.get(), file.c_str(), 0);
      else if (::fstatat(boot.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
        usage.bytes += static_cast<std::uint64_t>(st.st_size);
        ++usage.records;
      }
    });
  });
  return usage;
}

PstoreStore::Usage& PstoreStore::refresh_usage(const std::string& host) {
  if (!total_) {  // once: every host's share of the total
    total_ = 0;
    for (const std::string& name : dir_.host_names())
      if (Usage usage = scan(name); usage.records > 0) *total_ += (usage_[name] = usage).bytes;
  }
  Usage fresh = scan(host);
  Usage& usage = usage_[host];
  *total_ = *total_ - usage.bytes + fresh.bytes;
  return usage = fresh;
}

// Which quota a record of SIZE bytes from HOST would break, or "".
std::string PstoreStore::over_quota(const std::string& host, std::uint64_t size) {
  const Usage& usage = refresh_usage(host);
  if (usage.records >= quota_.host_records) return "host-records";
  if (usage.bytes + size > quota_.host_bytes) return "host-bytes";
  if (*total_ + size > quota_.total_bytes) return "total";
  return {};
}

// The disk worker rewrites the index when the quota removes a record: an append must not fall in between.
std::error_code PstoreStore::append_index(const std::string& host, const std::string& line) const {
  std::lock_guard lock(dir_.rename_lock());
  Fd index(dir_.open_append(host, kIndex));
  return index ? append_synced(index.get(), line) : last_error();
}

StoreOutcome PstoreStore::store(const std::string& host, const wire::PstoreRecord& record) {
  if (known(host, record.sha256)) return outcome(StoreResult::duplicate);
  if (std::string quota = over_quota(host, record.bytes.size()); !quota.empty()) {
    ++quota_refusals_;
    StoreOutcome refused = outcome(StoreResult::over_quota);
    refused.quota = quota;
    return refused;
  }
  Fd pstore(dir_.open_directory(host, "pstore", true));
  Fd boot(pstore ? dir_.open_directory(host, "pstore/" + record.boot_id, true) : -1);
  if (!boot) return failure(last_error());
  // Same boot and name but other bytes (a second crash collected later): keep both.
  std::string name;
  if (std::error_code error = write_new_file(boot.get(), record.name, record.bytes, name)) return failure(error);
  std::string path = "pstore/" + record.boot_id + "/" + name;
  // The index line goes last: a record is only "known" once its bytes and names are safe.
  bool synced = ::fsync(boot.get()) == 0 && ::fsync(pstore.get()) == 0;
  std::error_code error = synced ? append_index(host, record.sha256 + " " + path + "\n") : last_error();
  if (error) {  // not acknowledged: the retry must not find a stray copy
    ::unlinkat(boot.get(), name.c_str(), 0);
    return failure(error);
  }
  Usage& usage = usage_[host];
  usage.bytes += record.bytes.size();
  ++usage.records;
  *total_ += record.bytes.size();
  StoreOutcome stored = outcome(StoreResult::stored);
  stored.path = path;
  return stored;
}

bool drop_from_index(const LogDirectory& dir, const std::string& host, const std::string& path) {
  // On the disk worker's thread: only descriptors, never the LogDirectory's report of refusals.
  Fd host_dir(::openat(dir.root_fd(), host.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  Fd pstore(host_dir ? ::openat(host_dir.get(), "pstore", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1);
  if (!pstore) return false;
  std::lock_guard lock(dir.rename_lock());
  Fd index(::openat(pstore.get(), "index", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st{};
  if (!index || ::fstat(index.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) return false;
  std::string kept;
  for (const std::string& line : read_last_lines(index.get(), SIZE_MAX, kMaxIndexBytes))
    if (!line.ends_with(" " + path)) kept += line + "\n";
  // A new file renamed over the old one: a crash leaves either index whole.
  const char* temporary = ".index.part";
  ::unlinkat(pstore.get(), temporary, 0);
  Fd fresh(::openat(pstore.get(), temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode));
  bool ok = fresh && write_all(fresh.get(), kept.data(), kept.size()) == kept.size() && ::fsync(fresh.get()) == 0 &&
            ::renameat(pstore.get(), temporary, pstore.get(), "index") == 0;
  if (!ok) ::unlinkat(pstore.get(), temporary, 0);
  return ok;
}

std::string find_panic_line(const std::string& bytes) {
  auto at = bytes.find("Kernel panic - not syncing");
  if (at == std::string::npos) return {};
  auto end = bytes.find('\n', at);
  return bytes.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace lastgasp::sinks
