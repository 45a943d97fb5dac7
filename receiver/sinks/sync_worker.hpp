// fdatasync off the event loop. A trigger's console.log and incident file are
// made durable here, in the order asked, while the loop goes on taking
// datagrams: one fdatasync on ext4 takes milliseconds, and a thousand hosts
// panicking at once (or a thousand spoofed ones) would otherwise stall the loop
// for seconds and overflow the socket buffer.
//
// The queue holds names, not descriptors: a queue of duplicated descriptors
// would sit outside the daemon's descriptor budget. The worker opens each file
// read-only under the log directory (fdatasync works on any descriptor of the
// file) and closes it again, so it holds one file (and, while opening it, its
// directory) at a time: part of the daemon's reserve, not of max_open_files.
//
// Each file's directories, up to the log root, are synced after it, so that a
// new file's name (and a new host's directory) is as durable as its content.
//
// When many files wait (a fleet panicking at once), one syncfs() of the log
// directory's filesystem makes them all durable in one journal commit: a
// thousand fdatasyncs, each a commit of its own, would keep ext4's journal
// busy for seconds and hold up every file creation meanwhile.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "log_directory.hpp"

namespace lastgasp::sinks {

class SyncWorker {
 public:
  explicit SyncWorker(const LogDirectory& dir);
  // Syncs everything still queued, then stops.
  ~SyncWorker();
  SyncWorker(const SyncWorker&) = delete;
  SyncWorker& operator=(const SyncWorker&) = delete;

  // Makes HOST/FILE's data and its directory entry durable soon. With the queue full (the disk far
  // behind), syncs FD, its open descriptor, here and now instead.
  void sync(int fd, const std::string& host, const std::string& file);
  // fdatasync calls that failed (EIO, ENOSPC): the data may not be durable.
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kMaxQueued = 4096;
  static constexpr std::size_t kSyncfsBacklog = 8;  // files waiting that make one syncfs worth it
  struct File {
    std::string host, name;
  };

  void run();
  void sync_now(int fd);
  void sync_file(const File& file);
  void sync_entries(int directory);
  void sync_filesystem();

  const LogDirectory& dir_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<File> queue_;
  std::unordered_set<std::string> queued_;  // "host/name" of each file in queue_
  bool stopping_ = false;
  std::atomic<std::uint64_t> errors_{0};
  std::thread thread_;  // last: starts once everything it uses is built
};

}  // namespace lastgasp::sinks
