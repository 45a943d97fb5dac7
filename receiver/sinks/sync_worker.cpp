#include "sync_worker.hpp"

#include <unistd.h>

#include <algorithm>

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
  File wanted{host, file};
  if (std::find(queue_.begin(), queue_.end(), wanted) != queue_.end()) return;  // one sync covers both
  if (queue_.size() < kMaxQueued) {
    queue_.push_back(std::move(wanted));
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

void SyncWorker::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to sync
    File file = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    // Gone since (rotated, deleted by a quota): nothing of ours is left to make durable.
    if (int fd = dir_.open_read(file.host, file.name); fd >= 0) {
      sync_now(fd);
      ::close(fd);
    }
    lock.lock();
  }
}

}  // namespace lastgasp::sinks
