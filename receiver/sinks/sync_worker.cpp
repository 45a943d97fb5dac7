#include "sync_worker.hpp"

#include <unistd.h>

#include "thread_name.hpp"

namespace lastgasp::sinks {

SyncWorker::SyncWorker(const LogDirectory& dir) : dir_(dir), thread_([this] { run(); }) {}

SyncWorker::~SyncWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void SyncWorker::sync(int fd, const std::string& host, const std::string& file) {
  if (fd < 0) return;
  std::unique_lock lock(mutex_);
  if (queued_.contains(host + "/" + file)) return;  // one sync covers both
  if (queue_.size() < kMaxQueued) {
    queue_.push_back({host, file});
    queued_.insert(host + "/" + file);
    lock.unlock();
    wake_.notify_one();
    return;
  }
  lock.unlock();
  sync_now(fd);
}

void SyncWorker::sync_now(int fd) {
  if (::fdatasync(fd) != 0) errors_.fetch_add(1, std::memory_order_relaxed);
}

void SyncWorker::sync_file(const File& file) {
  // Gone since (rotated, deleted by a quota): nothing of ours is left to make durable.
  if (int fd = dir_.open_read(file.host, file.name); fd >= 0) {
    sync_now(fd);
    ::close(fd);
  }
  // Its name too, and its directories' names up to the log root: a new host's first incident
  // file whose directory entry is lost with the power is lost with it. For what was there
  // before, each costs an fsync with nothing to commit.
  for (std::string sub = file.name;;) {
    auto slash = sub.rfind('/');
    sub = slash == std::string::npos ? "" : sub.substr(0, slash);
    if (int fd = dir_.open_directory(file.host, sub, false); fd >= 0) {
      sync_entries(fd);
      ::close(fd);
    }
    if (sub.empty()) break;
  }
  sync_entries(dir_.root_fd());
}

void SyncWorker::sync_entries(int directory) {
  if (::fsync(directory) != 0) errors_.fetch_add(1, std::memory_order_relaxed);
}

void SyncWorker::sync_filesystem() {
  if (::syncfs(dir_.root_fd()) != 0) errors_.fetch_add(1, std::memory_order_relaxed);
}

void SyncWorker::run() {
  name_this_thread("lg-sync");
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to sync
    if (queue_.size() >= kSyncfsBacklog) {
      queue_.clear();
      queued_.clear();
      lock.unlock();
      sync_filesystem();  // covers every file queued until now
    } else {
      File file = std::move(queue_.front());
      queue_.pop_front();
      queued_.erase(file.host + "/" + file.name);
      lock.unlock();
      sync_file(file);
    }
    lock.lock();
  }
}

}  // namespace lastgasp::sinks
