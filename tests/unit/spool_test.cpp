// A destination's spool on real files in a scratch directory: order across
// memory, disk and restarts; its bounds; what a crash or a planted file leaves.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "forward/spool.hpp"
#include "receiver_process.hpp"

namespace lastgasp::forward {
namespace {

Message ordinary(int n) { return {"m" + std::to_string(n), false}; }
Message priority(int n) { return {"p" + std::to_string(n), true}; }

// Takes everything the spool holds, in order, committing as a destination would.
std::vector<std::string> drain(Spool& spool) {
  std::vector<std::string> out;
  for (int guard = 0; guard < 100000 && !spool.empty(); ++guard) {
    const auto& batch = spool.peek(64);
    for (const Message& m : batch) out.push_back(m.bytes);
    spool.commit(batch.size());
  }
  return out;
}

std::vector<std::string> names(std::initializer_list<Message> messages) {
  std::vector<std::string> out;
  for (const Message& m : messages) out.push_back(m.bytes);
  return out;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Spool, MemoryAloneDeliversInOrder) {
  test::TempDir dir;
  Spool spool(dir.path() / "s", {});
  for (int i = 0; i < 5; ++i) spool.push(ordinary(i));
  EXPECT_EQ(drain(spool), names({ordinary(0), ordinary(1), ordinary(2), ordinary(3), ordinary(4)}));
  EXPECT_TRUE(segment_files(dir.path() / "s").empty());
}

TEST(Spool, WhatIsSpilledGoesFirstAndSurvivesARestart) {
  test::TempDir dir;
  {
    Spool spool(dir.path() / "s", {});
    spool.push(ordinary(0));
    spool.push(priority(1));
    spool.spill();
    spool.push(ordinary(2));  // newer: behind the disk
    const auto& first = spool.peek(1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].bytes, "m0");
    EXPECT_TRUE(spool.peek(1000)[1].priority);
  }  // stopping spills memory behind the disk
  Spool again(dir.path() / "s", {});
  EXPECT_EQ(drain(again), names({ordinary(0), priority(1), ordinary(2)}));
  EXPECT_TRUE(segment_files(dir.path() / "s").empty());
}

TEST(Spool, APartlyDeliveredSegmentIsSentAgainAfterARestartNeverLost) {
  test::TempDir dir;
  {
    Spool spool(dir.path() / "s", {});
    for (int i = 0; i < 4; ++i) spool.push(ordinary(i));
    spool.spill();
    spool.peek(2 * 2);  // "m0", "m1"
    spool.commit(2);
  }
  Spool again(dir.path() / "s", {});
  EXPECT_EQ(drain(again), names({ordinary(0), ordinary(1), ordinary(2), ordinary(3)}));
}

TEST(Spool, ARecordACrashCutShortEndsItsSegmentAndAppendsStillWork) {
  test::TempDir dir;
  {
    Spool spool(dir.path() / "s", {});
    spool.push(ordinary(0));
    spool.push(ordinary(1));
    spool.spill();
  }
  auto files = segment_files(dir.path() / "s");
  ASSERT_EQ(files.size(), 1u);
  {
    std::ofstream torn(dir.path() / "s" / files[0], std::ios::app | std::ios::binary);
    torn.write("\x40\x00\x00\x00\x00half", 9);  // 64 bytes promised, 4 written
  }
  {
    Spool spool(dir.path() / "s", {});
    spool.push(ordinary(2));
    spool.spill();
  }
  Spool again(dir.path() / "s", {});
  EXPECT_EQ(drain(again), names({ordinary(0), ordinary(1), ordinary(2)}));
}

TEST(Spool, MemoryOverItsBoundDropsTheOldestOrdinaryAndCountsIt) {
  test::TempDir dir;
  Spool spool(dir.path() / "s", {.memory_bytes = 8});  // four 2-byte messages
  spool.push(priority(0));
  for (int i = 1; i <= 5; ++i) spool.push(ordinary(i));
  EXPECT_EQ(spool.counters().dropped, 2u);
  EXPECT_EQ(spool.counters().dropped_priority, 0u);
  EXPECT_EQ(drain(spool), names({priority(0), ordinary(3), ordinary(4), ordinary(5)}));
}

TEST(Spool, ACommitAfterPushDroppedSomeOfThePeekedTakesOffOnlyThoseDelivered) {
  test::TempDir dir;
  Spool spool(dir.path() / "s", {.memory_bytes = 8});
  for (int i = 0; i < 4; ++i) spool.push(ordinary(i));
  ASSERT_EQ(spool.peek(4).size(), 1u);  // m0 goes out: from memory, an eighth of its bound at most
  spool.push(ordinary(4));               // drops m0, the oldest
  spool.commit(1);
  EXPECT_EQ(drain(spool), names({ordinary(1), ordinary(2), ordinary(3), ordinary(4)}));
}

TEST(Spool, DiskOverItsBoundDropsOrdinaryFirstThenTheOldestPanics) {
  test::TempDir dir;
  // Records are 5 + 2 bytes; segments of 14 bytes hold two.
  Spool spool(dir.path() / "s", {.memory_bytes = 1000, .disk_bytes = 42, .segment_bytes = 14});
  spool.push(ordinary(0));
  spool.push(priority(1));
  spool.push(ordinary(2));
  spool.push(ordinary(3));
  spool.push(priority(4));
  spool.push(ordinary(5));
  spool.spill();  // 42 bytes: full
  spool.push(ordinary(6));
  spool.spill();  // m0 goes
  EXPECT_EQ(spool.counters().dropped, 1u);
  EXPECT_LE(spool.disk_bytes(), 42u);
  spool.push(priority(7));
  spool.push(priority(8));
  spool.spill();  // then m2 and m3, the oldest ordinary, one segment at a time
  EXPECT_LE(spool.disk_bytes(), 42u);
  EXPECT_EQ(drain(spool), names({priority(1), priority(4), ordinary(5), ordinary(6), priority(7), priority(8)}));
  EXPECT_EQ(spool.counters().dropped, 3u);
  EXPECT_EQ(spool.counters().dropped_priority, 0u);

  for (int i = 10; i < 16; ++i) spool.push(priority(i));
  spool.spill();
  spool.push(priority(16));
  spool.spill();  // nothing ordinary left: the oldest segment of panics goes
  EXPECT_EQ(spool.counters().dropped_priority, 2u);
  EXPECT_EQ(drain(spool), names({priority(12), priority(13), priority(14), priority(15), priority(16)}));
}

// A spill takes memory's batch, then writes it: until it is on disk, it is still counted in
// memory, as what a metric or a test waiting for memory_bytes() == 0 reads. (It was not: the
// figures then showed the batch nowhere, and a segment its writing dropped for room missing
// from the drop count.) A FIFO where the next segment goes holds the spill in its write.
TEST(Spool, ABatchBeingSpilledStaysCountedInMemoryUntilItIsOnDisk) {
  test::TempDir dir;
  Spool spool(dir.path() / "s", {});
  auto segment = dir.path() / "s" / "0000000000000000.seg";
  ASSERT_EQ(::mkfifo(segment.c_str(), 0600), 0);
  const Message big{std::string(256u << 10, 'x'), false};  // more than a pipe holds
  spool.push(big);
  std::thread spiller([&] { spool.spill(); });
  int reader = ::open(segment.c_str(), O_RDONLY | O_CLOEXEC);  // returns once the spill opened it
  ASSERT_GE(reader, 0);
  EXPECT_EQ(spool.memory_bytes(), big.bytes.size());  // the write waits for this reader
  EXPECT_EQ(spool.disk_bytes(), 0u);
  std::size_t written = 0;
  char buf[65536];
  for (ssize_t n; (n = ::read(reader, buf, sizeof buf)) > 0;) written += static_cast<std::size_t>(n);
  ::close(reader);
  spiller.join();
  EXPECT_EQ(written, 5 + big.bytes.size());
  EXPECT_EQ(spool.memory_bytes(), 0u);
  EXPECT_EQ(spool.disk_bytes(), written);
  EXPECT_EQ(spool.counters().spilled, 1u);
}

// The link reads the head segment whole; a spill meanwhile (memory's bound may be waiting on
// it) must not wait for that read, nor append to the segment being read. The head's file is
// swapped for a FIFO, so the read lasts until this test feeds it.
TEST(Spool, ASpillGoesOnWhileTheLinkReadsTheHeadSegment) {
  test::TempDir dir;
  Spool spool(dir.path() / "s", {});
  spool.push(ordinary(0));
  spool.spill();
  auto head = dir.path() / "s" / "0000000000000000.seg";
  std::string content;
  {
    std::ifstream in(head, std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_FALSE(content.empty());
  std::filesystem::remove(head);
  ASSERT_EQ(::mkfifo(head.c_str(), 0600), 0);
  std::vector<std::string> first;
  std::thread link([&] {
    for (const Message& m : spool.peek(1000)) first.push_back(m.bytes);
  });
  int feeder = -1;  // opens once the link's read has the FIFO open
  for (int i = 0; i < 5000 && feeder < 0; ++i) {
    feeder = ::open(head.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (feeder < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GE(feeder, 0) << "the link never opened the head segment";
  spool.push(ordinary(1));
  auto spill = std::async(std::launch::async, [&] { spool.spill(); });
  bool spilled_during_read = spill.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  EXPECT_EQ(::write(feeder, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(feeder);
  link.join();
  spill.wait();
  EXPECT_TRUE(spilled_during_read) << "the spill waited for the link's read of the head";
  EXPECT_EQ(first, names({ordinary(0)}));
  spool.commit(first.size());
  EXPECT_EQ(drain(spool), names({ordinary(1)}));
  EXPECT_EQ(spool.counters().spilled, 2u);
  EXPECT_EQ(spool.counters().dropped, 0u);
}

TEST(Spool, ALinkPlantedAsASegmentIsRemovedNeverFollowed) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "s");
  std::string target = dir.path() / "precious";
  { std::ofstream(target) << "keep me\n"; }
  std::filesystem::create_symlink(target, dir.path() / "s" / "0000000000000003.seg");
  {
    Spool spool(dir.path() / "s", {});
    spool.push(ordinary(0));
    spool.spill();
    EXPECT_EQ(drain(spool), names({ordinary(0)}));
  }
  std::ifstream in(target);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "keep me\n");
  EXPECT_TRUE(segment_files(dir.path() / "s").empty());
}

}  // namespace
}  // namespace lastgasp::forward
