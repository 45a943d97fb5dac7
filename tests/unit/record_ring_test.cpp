// The ring of recent records behind /api/stream: bounded by count and bytes,
// numbered without a hole, and saying how many an asked-for range no longer holds.
#include <gtest/gtest.h>

#include "daemon/live_stream.hpp"

namespace lastgasp::daemon {
namespace {

std::vector<std::uint64_t> numbers(const RecordRing::Slice& slice) {
  std::vector<std::uint64_t> out;
  for (const auto& r : slice.records) out.push_back(r.number);
  return out;
}

TEST(RecordRing, KeepsTheNewestRecordsUpToItsCount) {
  RecordRing ring(3, 1u << 20);
  EXPECT_EQ(ring.last(), 0u);
  EXPECT_TRUE(ring.after(0, 10).records.empty());
  for (int i = 1; i <= 5; ++i) ring.push("web1", "line " + std::to_string(i) + "\n");
  EXPECT_EQ(ring.last(), 5u);
  auto all = ring.after(0, 5);
  EXPECT_EQ(numbers(all), (std::vector<std::uint64_t>{3, 4, 5}));
  EXPECT_EQ(all.missed, 2u);
  EXPECT_EQ(all.records.front().line, "line 3") << "held without its newline";
  EXPECT_EQ(all.records.front().host, "web1");
}

TEST(RecordRing, MissedAfterCountsWhatAStreamsPlaceHasLost) {
  RecordRing ring(4, 1u << 20);
  EXPECT_EQ(ring.missed_after(0), 0u) << "nothing pushed, nothing missed";
  for (int i = 1; i <= 10; ++i) ring.push("h", "x");  // holds 7 to 10
  EXPECT_EQ(ring.missed_after(6), 0u);
  EXPECT_EQ(ring.missed_after(10), 0u);
  EXPECT_EQ(ring.missed_after(5), 1u);
  EXPECT_EQ(ring.missed_after(0), 6u);
}

TEST(RecordRing, AfterIsBoundedAboveAndSaysWhatItNoLongerHolds) {
  RecordRing ring(4, 1u << 20);
  for (int i = 1; i <= 10; ++i) ring.push("h", "x");
  EXPECT_EQ(numbers(ring.after(8, 10)), (std::vector<std::uint64_t>{9, 10}));
  EXPECT_EQ(ring.after(8, 10).missed, 0u);
  EXPECT_EQ(numbers(ring.after(2, 8)), (std::vector<std::uint64_t>{7, 8}));
  EXPECT_EQ(ring.after(2, 8).missed, 4u);  // 3, 4, 5 and 6
  EXPECT_EQ(ring.after(1, 4).missed, 3u) << "only those up to the bound";
  EXPECT_TRUE(ring.after(1, 4).records.empty());
  EXPECT_TRUE(ring.after(10, 10).records.empty());
}

TEST(RecordRing, IsBoundedByBytesButKeepsTheNewestWhateverItsSize) {
  RecordRing ring(100, 4096);
  for (int i = 0; i < 50; ++i) ring.push("h", std::string(1000, 'a'));
  auto held = ring.after(0, ring.last());
  EXPECT_LE(held.records.size(), 4u);
  EXPECT_EQ(held.records.size() + held.missed, 50u);
  ring.push("h", std::string(10000, 'b'));
  held = ring.after(0, ring.last());
  ASSERT_EQ(held.records.size(), 1u);
  EXPECT_EQ(held.records[0].line.size(), 10000u);
}

TEST(RecordRing, WakesOnceAfterPushes) {
  RecordRing ring(8, 1u << 20);
  EXPECT_FALSE(ring.take_wakeup());
  ring.push("h", "a");
  ring.push("h", "b");
  EXPECT_TRUE(ring.take_wakeup());
  EXPECT_FALSE(ring.take_wakeup());
}

// The ring grows slot by slot to its count; bytes may have let go of its oldest before then,
// so it grows from the middle of a lap: its records stay in order, each with its own line.
TEST(RecordRing, GrowingAfterBytesLetRecordsGoKeepsTheirOrder) {
  RecordRing ring(16, 40);
  for (int i = 1; i <= 200; ++i) {
    std::string line = std::to_string(i) + std::string(static_cast<std::size_t>(i * 7 % 13), '.');
    ring.push("h", line);
    auto held = ring.after(0, ring.last());
    ASSERT_FALSE(held.records.empty());
    EXPECT_EQ(held.records.size() + held.missed, static_cast<std::size_t>(i));
    for (std::size_t k = 0; k < held.records.size(); ++k) {
      EXPECT_EQ(held.records[k].number, held.missed + k + 1) << "after push " << i;
      EXPECT_TRUE(held.records[k].line.starts_with(std::to_string(held.records[k].number))) << "after push " << i;
    }
  }
}

}  // namespace
}  // namespace lastgasp::daemon
