#include "open_worker.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "thread_name.hpp"

namespace lastgasp::sinks {

namespace {

constexpr int kNiceness = 10;

}  // namespace

OpenWorker::OpenWorker(const LogDirectory& dir) : dir_(dir), thread_([this] { run(); }) {}

OpenWorker::~OpenWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  for (const Opened& opened : done_)
    if (opened.fd >= 0) ::close(opened.fd);
}

void OpenWorker::open(Request request) {
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
  }
  wake_.notify_one();
}

std::vector<OpenWorker::Opened> OpenWorker::take() {
  std::vector<Opened> opened;
  {
    std::lock_guard lock(mutex_);
    if (done_.empty()) return opened;
    opened.swap(done_);
  }
  wake_.notify_one();  // it may be waiting for room
  return opened;
}

std::optional<OpenWorker::Opened> OpenWorker::withdraw(std::uint64_t ticket) {
  std::unique_lock lock(mutex_);
  auto asked = std::ranges::find(requests_, ticket, &Request::ticket);
  if (asked != requests_.end()) {
    requests_.erase(asked);
    return std::nullopt;
  }
  done_changed_.wait(lock, [&] { return opening_ != ticket; });
  auto opened = std::ranges::find(done_, ticket, &Opened::ticket);
  if (opened == done_.end()) return std::nullopt;
  Opened result = *opened;
  done_.erase(opened);
  wake_.notify_one();  // it may be waiting for room
  return result;
}

OpenWorker::Opened OpenWorker::open_now(const Request& request) const {
  int fd = dir_.open_append(request.host, request.file);
  if (fd < 0) return {request.ticket, -1, errno, 0};
  struct stat st {};
  std::uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  return {request.ticket, fd, 0, size};
}

void OpenWorker::run() {
  name_this_thread("lg-opener");
  // Linux gives each thread its own nice value; 0 names the calling thread.
  ::setpriority(PRIO_PROCESS, 0, kNiceness);
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || (!requests_.empty() && done_.size() < kMaxUntaken); });
    if (stopping_) return;
    Request request = std::move(requests_.front());
    requests_.pop_front();
    opening_ = request.ticket;
    lock.unlock();
    Opened opened = open_now(request);
    lock.lock();
    done_.push_back(opened);
    opening_.reset();
    done_changed_.notify_all();
  }
}

}  // namespace lastgasp::sinks
