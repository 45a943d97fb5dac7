// Optional copy of every record into the systemd journal, one entry per
// record, searchable by LASTGASP_HOST and friends. The journal is a second
// home, never the first: a failure here is counted and reported, and file
// logging goes on regardless.
#pragma once

#include <cstdint>
#include <string>

#include "stream/event.hpp"

namespace lastgasp::sinks {

// Fixed MESSAGE_IDs, so `journalctl MESSAGE_ID=...` finds every panic, reboot or gap.
inline constexpr const char* kPanicMessageId = "4df66d05c09848ee843d2b42bd9c71ea";
inline constexpr const char* kRebootMessageId = "977d8a4f7c95467abe8a5c0f40d0ff8c";
inline constexpr const char* kGapMessageId = "1189699dfd0e4c6dbc8283e2e876928a";

class JournalSink {
 public:
  void write(const std::string& host, std::uint64_t boot, const stream::Event& event);
  std::uint64_t errors() const { return errors_; }

 private:
  std::uint64_t errors_ = 0;
  std::int64_t last_report_ = 0;
};

// PRIORITY for an event: never above crit (2), so no remote message is ever
// broadcast to the receiver's terminals by journald's ForwardToWall.
int journal_priority(const stream::Event& event);

}  // namespace lastgasp::sinks
