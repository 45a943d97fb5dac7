// One destination's queue: bounded in memory, spilled to disk while the
// destination is down or slow, delivered oldest first, kept across a restart.
// As rsyslog's disk-assisted action queues: the writer that feeds it never
// waits for the disk or the network.
//
// Order. What a peek handed out from memory (an eighth of its bound at most)
// stays there until committed, and goes first; then the disk; then the rest of
// memory, the newest: once anything is on disk, memory is spilled behind it,
// never sent past it. At a stop, what was handed out is written in front of the disk.
//
// Threads. push() is the writer thread's and only touches memory, under a
// lock. peek and commit are the destination's own thread; peek reads a segment
// without the disk's lock. spill() may be
// called from another thread at the same time: a spiller that does not wait on
// the network, as the destination's thread does (a RELP window, a TCP write to
// a slow reader), so that a slow destination spills instead of filling memory.
//
// Bounds. Memory over its bound (the spiller fell behind: the disk is slower
// than the writer, or failing) drops its oldest ordinary message; the disk over its bound drops
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

  // The writer's: queues MESSAGE in memory. Never blocks on I/O. True when memory holds more
  // than a quarter of its bound: time to spill.
  bool push(Message message);

  // The destination thread's. The next messages in order, at most MAX_BYTES
  // (at least one), without taking them off the queue.
  const std::vector<Message>& peek(std::size_t max_bytes);
  // The first COUNT messages of the last peek were delivered.
  void commit(std::size_t count);
  // Any thread: moves what is in memory and not handed out by a peek to disk, behind what is
  // there already.
  void spill();

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
  void load_head(std::unique_lock<std::mutex>& disk);
  Segment scan(std::uint64_t number) const;
  std::vector<Message> read_segment(const Segment& segment) const;
  void spill_locked();
  void write_handed_out_first();
  void append_to_disk(std::deque<Queued>& batch);
  void make_room_on_disk(std::uint64_t incoming);
  void rewrite(std::size_t index, std::vector<Message> keep);
  void remove_segment(std::size_t index);
  std::string segment_name(std::uint64_t number) const;

  const SpoolLimits limits_;
  int dir_fd_ = -1;
  // segments_, next_segment_, head_, head_next_, head_generation_: the destination's thread
  // (peek, commit) and a spiller's. Taken before mutex_.
  mutable std::mutex disk_mutex_;
  std::deque<Segment> segments_;  // oldest first
  std::atomic<std::uint64_t> disk_bytes_{0};  // written by the destination's thread only
  std::uint64_t next_segment_ = 0;
  // The head segment, read whole while it is being delivered: head_next_ is its first message not
  // yet delivered. Empty when it is not loaded.
  std::vector<Message> head_;
  std::size_t head_next_ = 0;
  // Counts the times room was made in the head: a peek from before does not commit, and a read
  // of it from before is read again.
  std::uint64_t head_generation_ = 0;
  std::optional<std::uint64_t> loading_head_;  // the segment peek is reading without the lock

  void put_back(std::deque<Queued>& unwritten);
  void take_from_memory(std::size_t& bytes, std::size_t max_bytes, bool past_handed_out);

  // The destination thread's: the last peek, and where each message came from.
  static constexpr std::uint64_t kFromDisk = ~std::uint64_t{0};
  std::vector<Message> peeked_;
  std::vector<std::uint64_t> peeked_ids_;  // memory's id, or kFromDisk
  std::uint64_t peeked_generation_ = 0;    // head_generation_ when it was peeked from disk

  mutable std::mutex mutex_;  // memory_, memory_bytes_, spilling_bytes_, next_id_, handed_out_, counters_
  std::deque<Queued> memory_;
  std::uint64_t next_id_ = 0;
  std::uint64_t handed_out_ = 0;    // ids below it went out in a peek: a spill leaves them
  std::size_t memory_bytes_ = 0;    // memory_'s, which its bound applies to
  std::size_t spilling_bytes_ = 0;  // the batch a spill took off memory_, until it is on disk
  SpoolCounters counters_;
};

}  // namespace lastgasp::forward
