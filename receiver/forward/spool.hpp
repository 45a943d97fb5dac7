// One destination's queue: bounded in memory, spilled to disk while the
// destination is down or slow, delivered oldest first, kept across a restart.
// As rsyslog's disk-assisted action queues: the writer that feeds it never
// waits for the disk or the network.
//
// Order. The disk holds the oldest messages, memory the newest: once anything
// is on disk, memory is spilled behind it, never sent past it.
//
// Threads. push() is the writer thread's and only touches memory, under a
// lock. Everything else (peek, commit, spill) is the destination's own thread,
// which alone does the file I/O.
//
// Bounds. Memory over its bound (the destination's thread fell behind even at
// spilling) drops its oldest ordinary message; the disk over its bound drops
// the oldest segment's ordinary messages, keeping its priority ones (panics,
// incidents, pstore records), then, with nothing ordinary left, the oldest
// priority ones. Every message dropped is counted.
//
// On disk: segments NNNNNNNNNNNNNNNN.seg under the spool directory, each a run
// of records [u32 length][u8 priority][message], little-endian. A record cut
// short by a crash ends its segment. Delivered messages are forgotten a whole
// segment at a time, so after a restart a partly delivered segment is sent
// again: the destination drops the duplicates by their identity.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lastgasp::forward {

struct SpoolLimits {
  std::size_t memory_bytes = 8u << 20;
  std::uint64_t disk_bytes = 256u << 20;
  std::size_t segment_bytes = 4u << 20;
};

struct SpoolCounters {
  std::uint64_t dropped = 0;           // ordinary messages dropped for room
  std::uint64_t dropped_priority = 0;  // panics and the like, when nothing else was left to drop
  std::uint64_t spilled = 0;           // messages written to disk
  std::uint64_t disk_errors = 0;       // writes or reads that failed: those messages stayed in memory or were lost
};

struct Message {
  std::string bytes;
  bool priority = false;
};

class Spool {
 public:
  // Opens (creating) DIR and takes in the segments a previous run left there.
  // Throws std::system_error when DIR cannot be used.
  Spool(const std::filesystem::path& dir, SpoolLimits limits);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // The writer's: queues MESSAGE in memory. Never blocks on I/O.
  void push(Message message);

  // The destination thread's. The next messages in order, at most MAX_BYTES
  // (at least one), without taking them off the queue.
  const std::vector<Message>& peek(std::size_t max_bytes);
  // The first COUNT messages of the last peek were delivered. Commit (or drop the
  // peek) before spilling.
  void commit(std::size_t count);
  // Moves what is in memory to disk, behind what is there already.
  void spill();
  // Spills when memory holds more than half its bound: call it as often as convenient.
  void spill_if_filling();

  bool empty() const;
  std::uint64_t disk_bytes() const { return disk_bytes_.load(std::memory_order_relaxed); }
  // What memory holds, and what a spill took from it and has not written yet: a message is
  // always in one of memory_bytes(), disk_bytes() or the drop counters, never in none.
  std::size_t memory_bytes() const;
  SpoolCounters counters() const;

 private:
  struct Queued {
    std::uint64_t id;  // pushed in this order: what a commit takes off, even if push dropped some since
    Message message;
  };
  struct Segment {
    std::uint64_t number;
    std::uint64_t size = 0;
    std::uint64_t messages = 0;
    std::uint64_t ordinary = 0;  // messages that are not priority
  };

  void load_segments();
  Segment scan(std::uint64_t number) const;
  std::vector<Message> read_segment(const Segment& segment) const;
  void append_to_disk(std::deque<Queued>& batch);
  void make_room_on_disk(std::uint64_t incoming);
  void rewrite(std::size_t index, std::vector<Message> keep);
  void remove_segment(std::size_t index);
  std::string segment_name(std::uint64_t number) const;

  const SpoolLimits limits_;
  int dir_fd_ = -1;
  std::deque<Segment> segments_;  // oldest first
  std::atomic<std::uint64_t> disk_bytes_{0};  // written by the destination's thread only
  std::uint64_t next_segment_ = 0;
  // The head segment, read whole while it is being delivered: head_next_ is its first message not
  // yet delivered. Empty when it is not loaded.
  std::vector<Message> head_;
  std::size_t head_next_ = 0;

  void put_back(std::deque<Queued>& unwritten);

  std::vector<Message> peeked_;
  bool peeked_from_disk_ = false;
  std::vector<std::uint64_t> peeked_ids_;  // of a peek from memory

  mutable std::mutex mutex_;  // memory_, memory_bytes_, spilling_bytes_, next_id_, counters_
  std::deque<Queued> memory_;
  std::uint64_t next_id_ = 0;
  std::size_t memory_bytes_ = 0;    // memory_'s, which its bound applies to
  std::size_t spilling_bytes_ = 0;  // the batch a spill took off memory_, until it is on disk
  SpoolCounters counters_;
};

}  // namespace lastgasp::forward
