#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "stream_harness.hpp"

namespace lastgasp::wire {
namespace {

using namespace std::chrono_literals;

// Cuts BODY as send_msg_fragmented() does: the header repeated, ncfrag appended.
std::vector<std::string> fragment(const std::string& header, const std::string& body, std::size_t slice) {
  std::vector<std::string> out;
  for (std::size_t off = 0; off < body.size(); off += slice)
    out.push_back(header + ",ncfrag=" + std::to_string(off) + "/" + std::to_string(body.size()) + ";" +
                  body.substr(off, slice));
  return out;
}

std::string long_body(std::size_t n) {
  std::string text;
  for (std::size_t i = 0; text.size() < n; ++i) text += "word" + std::to_string(i) + " ";
  text.resize(n);
  return text;
}

TEST(Fragments, InOrderSlicesMakeOneRecordWithUserdata) {
  test::StreamHarness h;
  std::string text = long_body(2500);
  std::string body = text + "\n host=web1\n cpu=1\n";
  for (const auto& d : fragment("6,42,1000,-", body, 900)) h.feed(d, 0ms);
  h.advance(1000ms);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, text);
  EXPECT_EQ(h.events[0].record.fields, (std::vector<Field>{{"host", "web1"}, {"cpu", "1"}}));
  EXPECT_EQ(h.events[0].record.missing_bytes, 0u);
  EXPECT_EQ(h.budget_.used, 0u);
}

TEST(Fragments, AnyOrderAndDuplicatesGiveTheSameRecord) {
  std::string text = long_body(5000);
  auto slices = fragment("4,7,55,-", text + "\n", 700);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> shuffled = slices;
    shuffled.insert(shuffled.end(), slices.begin(), slices.begin() + 3);  // duplicates
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    test::StreamHarness h;
    for (const auto& d : shuffled) h.feed(d, 0ms);
    h.advance(1000ms);
    ASSERT_EQ(h.events.size(), 1u);
    EXPECT_EQ(h.events[0].record.text, text);
    EXPECT_GE(h.counters.wire.duplicate_fragments, 1u);
  }
}

TEST(Fragments, OverlappingSlicesNeverOverwritePlacedBytes) {
  test::StreamHarness h;
  std::string body = "abcdefghij\n";
  h.feed("6,1,1,-,ncfrag=0/11;abcdef", 0ms);
  h.feed("6,1,1,-,ncfrag=3/11;XXXghij\n", 0ms);  // a bad overlap must not win
  h.advance(1000ms);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, "abcdefghij");
}

TEST(Fragments, IncompleteMessageIsReleasedAfterTimeoutWithMarks) {
  test::StreamHarness h;
  std::string text = long_body(3000);
  auto slices = fragment("6,9,100,-", text + "\n", 1000);
  ASSERT_EQ(slices.size(), 4u);
  h.feed(slices[0], 0ms);
  h.feed(slices[2], 5ms);
  h.feed(slices[3], 6ms);
  h.advance(50ms);
  EXPECT_TRUE(h.events.empty()) << "released before the fragment timeout";
  h.advance(300ms);
  ASSERT_EQ(h.events.size(), 1u);
  const Record& r = h.events[0].record;
  EXPECT_EQ(r.missing_bytes, 1000u);
  EXPECT_EQ(r.text, text.substr(0, 1000) + "[lastgasp: 1000 bytes missing]" + text.substr(2000));
  EXPECT_EQ(r.text.find('\0'), std::string::npos);
  EXPECT_EQ(r.fields, (std::vector<Field>{{"missing_bytes", "1000"}}));
  EXPECT_EQ(h.counters.wire.incomplete_records, 1u);
  EXPECT_EQ(h.budget_.used, 0u);
}

TEST(Fragments, MissingTailIsMarked) {
  test::StreamHarness h;
  h.feed("6,9,100,-,ncfrag=0/20;0123456789", 0ms);
  h.drain();
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, "0123456789[lastgasp: 10 bytes missing]");
}

TEST(Fragments, TotalsUpTo128KiBAreValidAndLargerAreMalformed) {
  test::StreamHarness h;
  std::string text = long_body(128 * 1024 - 1);
  for (const auto& d : fragment("6,1,1,-", text + "\n", 1000)) h.feed(d, 0ms);
  h.feed("6,2,2,-,ncfrag=0/131073;x", 0ms);
  h.feed("6,3,3,-,ncfrag=0/4000000;x", 0ms);
  h.advance(1000ms);
  ASSERT_EQ(h.seqs(), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(h.events[0].record.text.size(), text.size());
  EXPECT_EQ(h.counters.wire.malformed[static_cast<unsigned>(Malformed::fragment_total_too_large)], 2u);
}

TEST(Fragments, SlicesPastTheirTotalAreSkipped) {
  test::StreamHarness h;
  h.feed("6,1,1,-,ncfrag=15/20;0123456789", 0ms);
  h.feed("6,1,1,-,ncfrag=30/20;x", 0ms);
  h.feed("6,1,1,-,ncfrag=0/0;", 0ms);
  h.advance(1000ms);
  EXPECT_TRUE(h.events.empty());
  EXPECT_EQ(h.counters.wire.malformed[static_cast<unsigned>(Malformed::fragment_bad_range)], 3u);
}

TEST(Fragments, StreamCapPushesOutTheOldestInsteadOfGrowing) {
  stream::StreamSettings settings;
  settings.fragment_limits.stream_cap = 200 * 1024;
  test::StreamHarness h(settings);
  const std::string slice(60000, 'x');
  for (std::uint64_t seq = 1; seq <= 10; ++seq)  // ten 100 KiB messages, 60 KB of each sent
    h.feed("6," + std::to_string(seq) + "," + std::to_string(seq) + ",-,ncfrag=0/100000;" + slice, 0ms);
  EXPECT_LE(h.budget_.used, 200u * 1024);
  EXPECT_GE(h.budget_.used, 120000u) << "the newest messages are still held";
  h.drain();
  EXPECT_EQ(h.seqs().size(), 10u) << "pushed-out messages are written, marked, not dropped";
  EXPECT_EQ(h.budget_.used, 0u);
}

TEST(Fragments, ADeclaredTotalCostsNothingUntilItsBytesArrive) {
  test::StreamHarness h;
  for (std::uint64_t seq = 1; seq <= 100; ++seq)  // 34 bytes each, declaring 128 KiB
    h.feed("6," + std::to_string(seq) + "," + std::to_string(seq) + ",-,ncfrag=0/131072;", 0ms);
  EXPECT_LE(h.budget_.used, 100u * 512) << "a fixed overhead per message, not the declared total";
  EXPECT_EQ(h.counters.wire.malformed[static_cast<unsigned>(Malformed::reassembly_over_budget)], 0u);
  h.drain();
  EXPECT_EQ(h.budget_.used, 0u);
}

TEST(Fragments, OneByteSlicesPayTheirOverhead) {
  stream::StreamSettings settings;
  settings.fragment_limits.stream_cap = 128 * 1024;
  test::StreamHarness h(settings);
  for (std::uint32_t offset = 0; offset < 60000; offset += 2)  // every other byte: 30,000 pieces
    h.feed("6,1,1,-,ncfrag=" + std::to_string(offset) + "/131072;x", 0ms);
  EXPECT_LE(h.budget_.used, 128u * 1024);
  EXPECT_GT(h.counters.wire.malformed[static_cast<unsigned>(Malformed::reassembly_over_budget)], 0u)
      << "pieces cost more than their byte, so the cap stops them";
  h.drain();
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_NE(h.events[0].record.text.find("[lastgasp: 1 bytes missing]x"), std::string::npos);
  EXPECT_EQ(h.budget_.used, 0u);
}

TEST(Fragments, OverlappingSlicesJoinIntoOnePieceAndKeepTheFirstBytes) {
  test::StreamHarness h;
  h.feed("6,1,1,-,ncfrag=4/12;EFGH", 0ms);
  h.feed("6,1,1,-,ncfrag=10/12;KL", 0ms);
  h.feed("6,1,1,-,ncfrag=2/12;zzzzzzzzz", 0ms);  // covers 2..10: fills 2-3 and 8-9, keeps EFGH
  h.feed("6,1,1,-,ncfrag=0/12;AB", 0ms);
  h.advance(1000ms);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, "ABzzEFGHzzKL");
  EXPECT_EQ(h.budget_.used, 0u);
}

TEST(Fragments, GlobalBudgetIsShared) {
  wire::ReassemblyBudget budget{300 * 1024, 0};
  stream::StreamSettings settings;
  stream::StreamMachine a(settings, budget), b(settings, budget);
  std::vector<stream::Event> out;
  stream::StreamCounters counters;
  wire::Instant now{};
  const std::string slice(120000, 'x');
  a.feed("6,1,1,-,ncfrag=0/131072;" + slice, now, out, counters);
  a.feed("6,2,2,-,ncfrag=0/131072;" + slice, now, out, counters);
  b.feed("6,1,1,-,ncfrag=0/131072;" + slice, now, out, counters);
  EXPECT_LE(budget.used, 300u * 1024);
  EXPECT_EQ(counters.wire.malformed[static_cast<unsigned>(Malformed::reassembly_over_budget)], 1u);
}

TEST(Fragments, AHostsPortsShareItsBudgetAndItDrawsOnTheGlobalOne) {
  wire::ReassemblyBudget global{1 << 20, 0};
  wire::ReassemblyBudget host{200 * 1024, 0, &global};
  stream::StreamSettings settings;
  std::vector<stream::Event> out;
  stream::StreamCounters counters;
  wire::Instant now{};
  const std::string slice(100000, 'x');
  {
    stream::StreamMachine port_a(settings, host), port_b(settings, host);
    port_a.feed("6,1,1,-,ncfrag=0/131072;" + slice, now, out, counters);
    port_b.feed("6,1,1,-,ncfrag=0/131072;" + slice, now, out, counters);
    port_b.feed("6,2,2,-,ncfrag=0/131072;" + slice, now, out, counters);
    EXPECT_LE(host.used, 200u * 1024);
    EXPECT_EQ(global.used, host.used);
    EXPECT_EQ(counters.wire.malformed[static_cast<unsigned>(Malformed::reassembly_over_budget)], 1u);
  }
  EXPECT_EQ(host.used, 0u);
  EXPECT_EQ(global.used, 0u);
}

}  // namespace
}  // namespace lastgasp::wire
