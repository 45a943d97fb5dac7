#include "pstore_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace lastgasp::sinks {

namespace {

constexpr const char* kIndex = "pstore/index";
constexpr std::size_t kMaxIndexBytes = 16u << 20;

bool write_synced(int fd, const std::string& bytes) {
  bool ok = write_all(fd, bytes.data(), bytes.size()) == bytes.size() && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

}  // namespace

bool PstoreStore::known(const std::string& host, const std::string& sha256) const {
  int fd = dir_.open_read(host, kIndex);
  if (fd < 0) return false;
  for (const std::string& line : read_last_lines(fd, SIZE_MAX, kMaxIndexBytes)) {
    if (line.compare(0, sha256.size(), sha256) == 0) {
      ::close(fd);
      return true;
    }
  }
  ::close(fd);
  return false;
}

StoreResult PstoreStore::store(const std::string& host, const PstoreRecord& record, std::string& path) const {
  if (known(host, record.sha256)) return StoreResult::duplicate;
  // Same boot and name but other bytes (a second crash collected later): keep both.
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    path = "pstore/" + record.boot_id + "/" + record.name + (attempt ? "." + std::to_string(attempt) : "");
    fd = dir_.open_append(host, path, true);
    if (fd < 0 && errno != EEXIST) return StoreResult::failed;
  }
  if (fd < 0 || !write_synced(fd, record.bytes)) return StoreResult::failed;
  // The index line goes last: a record is only "known" once its bytes are safe.
  int index = dir_.open_append(host, kIndex);
  if (index < 0 || !write_synced(index, record.sha256 + " " + path + "\n")) return StoreResult::failed;
  return StoreResult::stored;
}

std::string find_panic_line(const std::string& bytes) {
  auto at = bytes.find("Kernel panic - not syncing");
  if (at == std::string::npos) return {};
  auto end = bytes.find('\n', at);
  return bytes.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace lastgasp::sinks
