// One [[forward]] destination: the records that pass its filter, as RFC 5424
// messages, through its spool, over its link (TCP, TLS or RELP: link.hpp), on
// a thread of its own.
//
// The writer calls write() for every event and goes on: formatting and a push
// into memory, never a wait for the network or the disk. The destination's
// thread connects (with backoff: 1 s, doubling, at most 30 s), sends the spool
// oldest first, and spills it to disk while the destination is away. A spiller
// thread of its own moves memory to disk once a quarter full: the
// destination's thread waits on the network (a RELP window, a TCP write to a
// slow reader), and memory filled meanwhile dropped what a slow destination
// had not taken yet.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "link.hpp"
#include "receiver_config.hpp"
#include "spool.hpp"
#include "stream/event.hpp"
#include "syslog_message.hpp"

namespace lastgasp::forward {

struct ForwardCounters : LinkCounters {
  SpoolCounters spool;
  std::uint64_t spooled_bytes = 0;  // on disk now
  std::uint64_t queued_bytes = 0;   // in memory now
};

// Whether the event passes the table's filters.
bool passes(const config::Forward& settings, const std::string& host, const stream::Event& event);

class Forwarder {
 public:
  // Spools under SPOOL_ROOT/<name>. Throws std::system_error when the spool cannot be opened,
  // std::runtime_error when the TLS files cannot be loaded.
  Forwarder(config::Forward settings, const std::filesystem::path& spool_root);
  ~Forwarder();  // stops the thread; what is not sent stays in the spool
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // The writer's: the event of host HOST (its directory), in the host's order.
  void write(const std::string& host, std::uint64_t boot, std::optional<std::uint16_t> src, const stream::Event& event);
  ForwardCounters counters() const;
  const config::Forward& settings() const { return settings_; }

 private:
  void spill_when_asked();

  config::Forward settings_;
  SyslogFormatter formatter_;  // the writer's thread only
  Spool spool_;
  std::unique_ptr<Link> link_;
  std::thread thread_;

  std::mutex spill_mutex_;  // spill_stopping_, and the wait for a spill
  std::condition_variable spill_wanted_;
  bool spill_stopping_ = false;
  std::atomic<bool> spill_due_{false};  // set by the writer, taken by the spiller
  std::thread spiller_;
};

}  // namespace lastgasp::forward
