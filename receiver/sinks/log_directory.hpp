// LOG_DIR and the per-host directories under it. Every path below LOG_DIR is
// opened relative to a directory descriptor with O_NOFOLLOW, and host names
// come only from the sender's address or the config, so no sender can make
// the daemon write outside its own directory. Every file is opened through
// one function (open_file_at) that also refuses what anyone else who can write
// to LOG_DIR could have planted there: a FIFO, device, directory or hard link.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fd.hpp"

namespace lastgasp::sinks {

class LogDirectory {
 public:
  // Creates ROOT if needed. Throws std::system_error when it cannot be used.
  explicit LogDirectory(const std::filesystem::path& root);
  ~LogDirectory();
  LogDirectory(const LogDirectory&) = delete;
  LogDirectory& operator=(const LogDirectory&) = delete;

  // Opens HOST/RELATIVE for appending lines, creating HOST/ and the directories
  // on the way; EXCLUSIVE fails with EEXIST on an existing file. A last line cut
  // short (power loss) is ended with '\n' first, so no line is glued to it.
  // Returns -1 with errno set on failure.
  int open_append(const std::string& host, const std::string& relative, bool exclusive = false) const;
  // Opens the directory HOST/RELATIVE ("" for HOST/ itself), creating it and the
  // ones on the way when CREATE. Returns -1 with errno set on failure.
  int open_directory(const std::string& host, const std::string& relative, bool create) const;
  // The names of the host directories under LOG_DIR.
  std::vector<std::string> host_names() const;
  // Opens HOST/RELATIVE for reading, or -1 with errno set.
  int open_read(const std::string& host, const std::string& relative) const;
  // Replaces HOST/NAME with CONTENT atomically (a temporary file, then an exchange of names; the
  // temporary, kept as NAME.tmp, holds the previous content). False with errno on failure.
  bool replace(const std::string& host, const std::string& name, const std::string& content) const;
  // Renames HOST/NAME to NAME.1, NAME.1 to NAME.2 ... up to NAME.KEEP, which is dropped. False with errno.
  // Renames HOST/NAME to NAME.1, NAME.1 to NAME.2 ... up to NAME.KEEP, which is dropped, and
  // the compressed NAME.N.zst along with them. False with errno.
  bool rotate(const std::string& host, const std::string& name, unsigned keep) const;

  // LOG_DIR as it was given.
  const std::filesystem::path& root() const { return root_; }
  // For the disk worker's thread. The descriptor of LOG_DIR itself, which never changes.
  int root_fd() const { return root_fd_; }
  // Taken by whatever renames or removes a name that another thread may be looking at: rotation
  // (event loop), compression and quota removals (disk worker), the pstore index (both).
  std::mutex& rename_lock() const { return rename_lock_; }

 private:
  int open_host_dir(const std::string& host, bool create) const;
  // WHERE is HOST/RELATIVE, for the message when the file is refused.
  int open_file_at(int dir, const std::string& name, int flags, const std::string& where) const;
  int reuse_temporary(int dir, const std::string& temporary, const std::string& where) const;
  int refuse(const std::string& where, const char* why, int error) const;
  bool refusal_is_news(const std::string& where) const;

  std::filesystem::path root_;
  int root_fd_ = -1;
  // Opens come from the event loop and from the sinks' worker threads.
  mutable std::mutex refusals_mutex_;
  mutable std::map<std::string, std::chrono::steady_clock::time_point> refusals_reported_;  // path -> when
  mutable std::mutex rename_lock_;
};

// Calls F with the name of every entry of the directory DIR but "." and "..".
void for_each_entry(int dir, const std::function<void(const std::string&)>& f);

// The last MAX_LINES complete lines of FD, reading at most MAX_BYTES from its end.
std::vector<std::string> read_last_lines(int fd, std::size_t max_lines, std::size_t max_bytes);

// Writes all of DATA to FD, retrying short writes and EINTR. Returns the bytes
// written; fewer than DATA's size means errno says why.
std::size_t write_all(int fd, const char* data, std::size_t size);

}  // namespace lastgasp::sinks
