// The disk bound: a quota for all of LOG_DIR, one per host, and a floor of
// free space on its filesystem. When one is reached, files go in this order,
// from the host over its quota (or, for the total and the floor, the host
// using the most): its oldest rotated logs, then its oldest closed incident
// files, then its oldest pstore copies (their index lines with them), and its
// current console.log only when nothing else is left, by asking the event
// loop to rotate it away (the sink holds it open; only the sink may rename it).
//
// Nothing outside LOG_DIR is ever touched, whatever anyone else who can write
// there has planted: every walk and removal is relative to directory
// descriptors, opened with O_NOFOLLOW and examined with AT_SYMLINK_NOFOLLOW,
// so a symbolic link is never followed, only ever counted as the small file it
// is and left alone. A file with a second hard link may be any file on the
// filesystem: it counts for nothing and is never removed. A name is removed
// only if it is still the very file that was scanned (same inode, under the
// log directory's rename lock, which rotation takes too), so a rotation that
// ran between the scan and the removal never costs a newer file.
//
// Everything here runs on the disk worker's thread; the unit tests drive it directly.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "log_directory.hpp"

namespace lastgasp::sinks {

// What the sink wrote since it was last asked: the disk worker's estimate between counts.
struct DiskGrowth {
  std::map<std::string, std::uint64_t> bytes;  // host -> bytes written
  std::set<std::string> rotated;               // hosts whose console.log was rotated: compress
  std::uint64_t total = 0;
};

struct DiskQuotas {
  std::uint64_t total = 20ull << 30;  // all of LOG_DIR; 0: none
  std::uint64_t host = 1ull << 30;    // one host's directory; 0: none
  std::uint64_t min_free_bytes = 0;   // free space kept on LOG_DIR's filesystem...
  unsigned min_free_percent = 5;      // ...or this share of it, when min_free_bytes is 0
};

// What a file is to the quota, in the order files go: the lower, the sooner.
enum class FileRole { rotated_log, incident, pstore_copy, current_log, kept };

struct DiskFile {
  std::string path;  // relative to the host's directory
  FileRole role = FileRole::kept;
  std::uint64_t bytes = 0;  // what it takes on disk: its blocks, and at least its size
  std::int64_t mtime_ns = 0;
  ino_t inode = 0;
  unsigned generation = 0;  // N of console.log.N[.zst]
};

// Every file and directory under LOG_DIR/HOST that counts, found without following a link.
std::vector<DiskFile> scan_host(int root_fd, const std::string& host);

// HOST's files that may go, in the order they go. OPEN_INCIDENTS ("host/incidents/x.log") are
// being written and stay.
std::vector<DiskFile> deletion_order(const std::string& host, std::vector<DiskFile> files,
                                     const std::set<std::string>& open_incidents);

// Compresses each of HOST's rotated console.log.N into console.log.N.zst, then removes
// console.log.N. Returns how many were compressed; FAILED counts the others.
unsigned compress_rotated_logs(const LogDirectory& dir, const std::string& host, unsigned& failed);

struct QuotaCounters {
  std::uint64_t files_removed = 0;
  std::uint64_t bytes_removed = 0;
  std::uint64_t logs_rotated_away = 0;  // current logs the sink was asked to rotate away
  std::uint64_t remove_errors = 0;
};

class QuotaEnforcer {
 public:
  // Told of every file removed: its host, the file, and the bound that made it go.
  using Removed = std::function<void(const std::string& host, const DiskFile& file, const char* bound)>;
  QuotaEnforcer(const LogDirectory& dir, Removed removed) : dir_(dir), removed_(std::move(removed)) {}

  void set_quotas(const DiskQuotas& quotas) { quotas_ = quotas; }
  // Counts every host's directory afresh: corrects drift, and files added or removed by others.
  void rescan_all();
  // HOST wrote BYTES since it was last counted.
  void grew(const std::string& host, std::uint64_t bytes) { usage_[host] += bytes; }
  // Removes files until every bound holds. Hosts whose current log has to go are added to ROTATE_AWAY.
  void enforce(const std::set<std::string>& open_incidents, std::vector<std::string>& rotate_away);
  // Counts HOST afresh (after compression changed its files).
  void recount(const std::string& host);

  std::uint64_t used() const;
  std::uint64_t free_bytes() const;
  const QuotaCounters& counters() const { return counters_; }

 private:
  struct Candidates;
  void trim_host(const std::string& host, Candidates& candidates, std::vector<std::string>& rotate_away);
  void trim_largest(Candidates& candidates, std::vector<std::string>& rotate_away);
  bool remove(const std::string& host, const DiskFile& file, const char* bound);
  std::uint64_t floor_shortfall() const;

  const LogDirectory& dir_;
  Removed removed_;
  DiskQuotas quotas_;
  std::map<std::string, std::uint64_t> usage_;  // host -> bytes, as last counted plus growth since
  QuotaCounters counters_;
};

}  // namespace lastgasp::sinks
