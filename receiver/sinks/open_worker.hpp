// Opening and creating hosts' logs off the writer thread.
//
// A new host costs the file system a directory, a file and, on ext4, an inode
// allocation that can take milliseconds when the journal is busy. One at a
// time that is nothing; when a thousand hosts appear in the same second (a
// fleet rebooting after an outage, a bad kernel rolled out), opening them on
// the writer held up every other host's lines for seconds, whatever budget
// the writer gave itself per flush: a single openat can wait behind the
// journal for longer than the budget. So the writer only asks, and goes on
// writing the hosts it has; this thread opens, and the writer takes the
// descriptors at its next flush.
//
// Descriptors opened but not yet taken are bounded (kMaxUntaken): the thread
// waits for the writer rather than go past that, so the daemon's descriptor
// reserve covers them. The thread runs at a lower priority (nice +10), so the
// receive threads always come first for the CPU.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "log_directory.hpp"

namespace lastgasp::sinks {

class OpenWorker {
 public:
  static constexpr std::size_t kMaxUntaken = 64;

  struct Request {
    std::uint64_t ticket;  // the asker's, handed back with the result
    std::string host;
    std::string file;  // relative to the host's directory
  };
  struct Opened {
    std::uint64_t ticket;
    int fd;     // -1 on failure; the taker owns it
    int error;  // errno when fd is -1
    std::uint64_t size;  // of the file, when opened
  };

  explicit OpenWorker(const LogDirectory& dir);
  // Closes whatever was opened and not taken.
  ~OpenWorker();
  OpenWorker(const OpenWorker&) = delete;
  OpenWorker& operator=(const OpenWorker&) = delete;

  // Opens REQUEST.host/REQUEST.file for appending, creating what is missing, soon.
  void open(Request request);
  // What has been opened since the last call, in the order asked.
  std::vector<Opened> take();
  // TICKET's request called back, because the asker opens the file itself: nothing when it was
  // not started yet, else its result, waited for if it is being opened now. Two opens of one
  // file must never overlap: opening ends a cut last line, and a line being written looks cut.
  std::optional<Opened> withdraw(std::uint64_t ticket);

 private:
  void run();
  Opened open_now(const Request& request) const;

  const LogDirectory& dir_;
  std::mutex mutex_;
  std::condition_variable wake_;          // the thread's: a request, room, or stop
  std::condition_variable done_changed_;  // withdraw's: the file being opened is
  std::deque<Request> requests_;
  std::vector<Opened> done_;
  std::optional<std::uint64_t> opening_;  // the ticket being opened now, unlocked
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything it uses is built
};

}  // namespace lastgasp::sinks
