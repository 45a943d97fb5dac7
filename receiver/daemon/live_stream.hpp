// /api/stream: the records the writer has just written, as server-sent events
// of the JSON objects `tail -o json` prints, to every client whose filters
// (tail's: host glob, level, grep, since) want them.
//
// While the HTTP side is open the writer hands each finished line to a
// RecordRing, a bounded ring of the most recent ones, and wakes the main
// thread at most once per batch. There each client has its own place in the
// ring, and takes records from it as its bounded queue has room: a burst larger
// than the queue reaches a client that reads, in the time it takes to write it.
// A client is too slow only when the ring has moved on past its place: records
// it never had are gone, and it is told so and let go. The writer never waits
// for a client: it waits, for a moment, only for the ring's lock, which the
// main thread holds while it copies a slice of records (kSliceRecords).
// Each record's event id is RUN-N, N counting from 1 in this run of the
// daemon, so a reconnecting EventSource (Last-Event-ID) resumes where it was,
// or hears how many records went past while it was away.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_server.hpp"
#include "tail/entry.hpp"

namespace lastgasp::daemon {

struct RingRecord {
  std::uint64_t number = 0;  // N of the event id
  std::string host;          // its directory
  std::string line;          // as console.log has it, without '\n'
};

// Slots made as the ring grows and written over in turn: after the first lap a push allocates
// nothing.
class RecordRing {
 public:
  RecordRing(std::size_t max_records, std::size_t max_bytes) : max_records_(max_records), max_bytes_(max_bytes) {}

  // On the writer's thread: LINE (with or without its '\n') of HOST's log.
  void push(std::string_view host, std::string_view line);
  // True once after records were pushed, until the next push: the writer wakes the reader then.
  bool take_wakeup() { return wakeup_.exchange(false, std::memory_order_acq_rel); }

  struct Slice {
    std::vector<RingRecord> records;  // copies of those held after the asked number
    std::uint64_t missed = 0;         // after it, no longer held
  };
  // The records numbered after AFTER, up to UP_TO at most.
  Slice after(std::uint64_t after, std::uint64_t up_to) const;
  // The number of the last record pushed (0 before the first).
  std::uint64_t last() const;
  // How many records numbered after AFTER are no longer held.
  std::uint64_t missed_after(std::uint64_t after) const;

 private:
  static std::size_t size_of(const RingRecord& r) { return r.host.size() + r.line.size(); }
  const RingRecord& held(std::size_t i) const { return slots_[(oldest_ + i) % slots_.size()]; }
  RingRecord& next_slot();
  static void reuse(std::string& slot, std::string_view text);

  std::vector<RingRecord> slots_;
  const std::size_t max_records_, max_bytes_;
  mutable std::mutex mutex_;
  std::size_t oldest_ = 0, count_ = 0, bytes_ = 0;
  std::uint64_t last_ = 0;
  std::atomic<bool> wakeup_{false};
};

struct StreamCounters {
  std::uint64_t opened = 0;
  std::uint64_t dropped = 0;  // too slow: the ring moved on past its place
  std::uint64_t refused = 0;  // over the cap on open streams
  std::uint64_t lost = 0;     // records that left the ring before a stream was given them
};

struct StreamLimits {
  unsigned max_streams = 16;
  std::chrono::seconds keepalive{15};
  std::size_t max_backlog = 4096;        // records a new stream may ask for (n=)
  std::size_t replay_bytes = 128u << 10;  // of them, what a new stream is given at most
};

class LiveStreams {
 public:
  LiveStreams(boost::asio::io_context& io, const RecordRing& ring, StreamLimits limits = {});

  // The reply to GET /api/stream?QUERY, resuming after LAST_EVENT_ID if it names one: 400 for
  // a bad filter, 503 over the cap, or an event stream.
  http::Reply open(std::string_view query, std::string_view last_event_id);
  // Hands each stream what the ring has beyond its place, as far as its queue takes.
  void deliver();
  // Lets go of every stream (the daemon stops).
  void close_all();
  unsigned open_streams() const;
  const StreamCounters& counters() const { return counters_; }
  // "RUN-N", N the ring's number of a record.
  std::string event_id(std::uint64_t number) const;

 private:
  struct Client {
    std::shared_ptr<http::EventStream> out;
    tail::Filter filter;
    std::uint64_t after = 0;  // its place: the last record number it was handed, or passed by its filter
    bool waiting = false;     // for room in its queue
  };
  struct Start {
    std::uint64_t after = 0;  // replay the records after this number
    std::string lost;         // an event to send first, if any
    std::optional<std::size_t> last_n;  // of those, only the last N that pass
  };

  // Where a stream asked with QUERY begins (SINCE: it has a since= filter); nullopt for a bad n=.
  std::optional<Start> start_of(std::string_view query, std::string_view last_event_id, bool since) const;
  void attach(std::shared_ptr<http::EventStream> out, tail::Filter filter, const Start& start);
  std::string frame(const RingRecord& record, const tail::Entry& entry) const;
  bool hand(Client& client, std::string_view bytes);
  void feed(Client& client);
  void resume(const http::EventStream* out);
  void drop(Client& client, std::uint64_t missed);
  void prune();
  void keepalive();

  const RecordRing& ring_;
  StreamLimits limits_;
  std::string run_;  // this run's id: a reconnect from before a restart is told so
  std::vector<Client> clients_;
  boost::asio::steady_timer keepalive_timer_;
  bool keepalive_armed_ = false;
  StreamCounters counters_;
};

}  // namespace lastgasp::daemon
