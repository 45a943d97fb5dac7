// Owns a descriptor: closed when it goes, or is reset to another. Closing keeps errno, so the
// error of the call that failed while it was open is still there for the caller to report.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace lastgasp {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(-1); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd) {
    if (fd_ >= 0) {
      int error = errno;
      ::close(fd_);
      errno = error;
    }
    fd_ = fd;
  }
  // Gives the descriptor up to the caller, who closes it.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace lastgasp
