// Reading the per-host logs as a user would: the last N records across hosts
// merged by receive time, then following every matching host's console.log,
// through rotation, and picking up hosts that appear while it runs. It reads
// only files, so it works for anyone who can read them, daemon up or down.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "entry.hpp"

namespace lastgasp::tail {

// Host directories under LOG_DIR that FILTER wants, sorted.
std::vector<std::string> list_hosts(const std::filesystem::path& log_dir, const Filter& filter);

// Where each host's console.log was when the history was read: following starts there.
struct Position {
  ino_t inode = 0;
  off_t offset = 0;
};

// The last N entries FILTER wants across HOSTS (every one when N is nullopt),
// oldest first, reading rotated files (console.log.1, .2, ..., compressed ones as .N.zst) as needed.
std::vector<Entry> read_history(const std::filesystem::path& log_dir, const std::vector<std::string>& hosts,
                                const Filter& filter, std::optional<std::size_t> n,
                                std::map<std::string, Position>& positions);

class Follower {
 public:
  using Emit = std::function<void(const Entry&)>;
  Follower(std::filesystem::path log_dir, Filter filter, Emit emit);
  ~Follower();

  // Follows forever from POSITIONS (hosts not in it: from their start).
  [[noreturn]] void run(const std::map<std::string, Position>& positions);

 private:
  struct Followed {
    int fd = -1;
    ino_t inode = 0;
    std::string partial;
  };
  void add_host(const std::string& host, std::optional<Position> from);
  void discover_hosts();
  void read_new(const std::string& host, Followed& f);
  void check(const std::string& host);

  std::filesystem::path log_dir_;
  Filter filter_;
  Emit emit_;
  int inotify_ = -1;
  std::map<std::string, Followed> followed_;
  std::map<int, std::string> watches_;  // inotify watch -> host ("" for LOG_DIR itself)
};

}  // namespace lastgasp::tail
