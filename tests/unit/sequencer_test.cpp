#include <gtest/gtest.h>

#include "stream_harness.hpp"

namespace lastgasp::stream {
namespace {

using namespace std::chrono_literals;
using test::ext;
using V = std::vector<std::uint64_t>;

// Feeds seq 1 and lets its first-record window pass, so later records are judged against it.
void start(test::StreamHarness& h) {
  h.feed(ext(6, 1, 1000, "one"), 0ms);
  h.advance(200ms);
  EXPECT_EQ(h.seqs(), V{1});  // EXPECT: an ASSERT here would end only this helper, not the test
}

TEST(Sequencer, FirstRecordWaitsTheWindowThenNextRecordsGoAtOnce) {
  test::StreamHarness h;
  h.feed(ext(6, 1, 1000, "one"), 0ms);
  EXPECT_TRUE(h.events.empty()) << "a stream's first record may still have earlier ones in flight";
  EXPECT_EQ(h.machine_.next_deadline(), h.at(100ms).mono);
  h.advance(100ms);
  EXPECT_EQ(h.seqs(), V{1});
  h.feed(ext(6, 2, 1001, "two"), 150ms);
  EXPECT_EQ(h.seqs(), (V{1, 2})) << "in-order records are not held";
}

TEST(Sequencer, ReorderedRecordsAreWrittenInSeqOrder) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(6, 4, 1004, "four"), 201ms);
  h.feed(ext(6, 3, 1003, "three"), 202ms);
  h.feed(ext(6, 2, 1002, "two"), 203ms);
  EXPECT_EQ(h.seqs(), (V{1, 2, 3, 4}));
  EXPECT_EQ(h.count(EventType::gap), 0u);
}

TEST(Sequencer, AMissingSeqBecomesAGapLineWithinTheWindowEvenWithNoMorePackets) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(6, 2, 1002, "two"), 210ms);
  h.feed(ext(6, 5, 1005, "five"), 220ms);
  h.feed(ext(0, 6, 1006, "Kernel panic - not syncing: last words"), 221ms);
  EXPECT_EQ(h.seqs(), (V{1, 2}));
  ASSERT_EQ(h.machine_.next_deadline(), h.at(320ms).mono) << "the deadline runs from the held record's arrival";
  h.advance(319ms);
  EXPECT_EQ(h.seqs(), (V{1, 2}));
  h.advance(320ms);  // no packet arrives: the timer alone releases the last words
  EXPECT_EQ(h.seqs(), (V{1, 2, 5, 6}));
  ASSERT_EQ(h.count(EventType::gap), 1u);
  const auto& gap = h.events[2];
  EXPECT_EQ(gap.type, EventType::gap);
  EXPECT_EQ(gap.record.text, "lastgasp: lost 2 messages (seq 3-4)");
  EXPECT_EQ(h.counters.sequence.lost, 2u);
  EXPECT_EQ(h.events.back().type, EventType::incident);
  EXPECT_EQ(h.events.back().record.text, "lastgasp: panic Kernel panic - not syncing: last words");
}

TEST(Sequencer, DuplicatesAreDropped) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(6, 2, 1002, "two"), 210ms);
  h.feed(ext(6, 2, 1002, "two"), 211ms);
  h.feed(ext(6, 1, 1000, "one"), 212ms);
  h.feed(ext(6, 4, 1004, "four"), 213ms);
  h.feed(ext(6, 4, 1004, "four"), 214ms);  // duplicate of a held record
  h.advance(1000ms);
  EXPECT_EQ(h.seqs(), (V{1, 2, 4}));
  EXPECT_EQ(h.counters.sequence.duplicates, 3u);
  EXPECT_EQ(h.count(EventType::reboot), 0u);
}

TEST(Sequencer, AQuietStreamGivesBackItsMemoryAndStillKnowsItsLastRecordAndWhereItIs) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(6, 2, 1002, "two"), 210ms);
  h.feed(ext(6, 4, 1004, "four, held behind a gap"), 211ms);
  h.machine_.compact();  // nothing may be given back while a record is held
  h.advance(400ms);
  EXPECT_EQ(h.seqs(), (V{1, 2, 4}));
  h.machine_.compact();
  h.feed(ext(6, 4, 1004, "four, again"), 2000ms);
  EXPECT_EQ(h.counters.sequence.duplicates, 1u) << "a repeat of the last record is still a duplicate";
  h.feed(ext(6, 5, 1005, "five"), 2001ms);
  EXPECT_EQ(h.seqs(), (V{1, 2, 4, 5})) << "it carries on where it was, with no gap and no reboot";
  EXPECT_EQ(h.count(EventType::reboot), 0u);
  EXPECT_EQ(h.count(EventType::gap), 1u);
}

TEST(Sequencer, ALateRecordThatFitsItsGapIsWrittenNotTakenForAReboot) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(6, 3, 1003, "three"), 210ms);
  h.advance(400ms);
  ASSERT_EQ(h.count(EventType::gap), 1u);
  h.feed(ext(6, 2, 1002, "two, late"), 500ms);
  h.feed(ext(6, 2, 1002, "two, late"), 501ms);
  EXPECT_EQ(h.seqs(), (V{1, 3, 2}));
  EXPECT_EQ(h.events.back().record.fields.back(), (wire::Field{"late", "1"}));
  EXPECT_EQ(h.counters.sequence.late, 1u);
  EXPECT_EQ(h.counters.sequence.duplicates, 1u);
  EXPECT_EQ(h.count(EventType::reboot), 0u);
}

TEST(Sequencer, OverlappingSeqFromANewBootIsARebootNotDuplicates) {
  // As in the real capture: boot 1 ends at seq 409, boot 2 starts at 367 with an earlier timestamp.
  test::StreamHarness h;
  for (std::uint64_t seq = 366; seq <= 409; ++seq) h.feed(ext(4, seq, 4524015 + seq * 1000, "boot1"), 0ms);
  h.advance(200ms);
  for (std::uint64_t seq = 367; seq <= 420; ++seq) h.feed(ext(6, seq, 4499644 + seq * 1000 - 367000, "boot2"), 300ms);
  h.advance(600ms);
  EXPECT_EQ(h.count(EventType::reboot), 1u);
  EXPECT_EQ(h.counters.sequence.duplicates, 0u);
  EXPECT_EQ(h.seqs().size(), 44u + 54u) << "nothing dropped";
  EXPECT_EQ(h.count(EventType::gap), 0u);
}

TEST(Sequencer, SeqAheadWithTimeBehindIsANewBoot) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(6, 900, 5, "early in the next boot"), 300ms);
  h.advance(600ms);
  EXPECT_EQ(h.count(EventType::reboot), 1u);
  EXPECT_EQ(h.count(EventType::gap), 0u);
  EXPECT_EQ(h.seqs(), (V{1, 900}));
}

TEST(Sequencer, SeqFarBehindIsANewBoot) {
  test::StreamHarness h;
  for (std::uint64_t seq = 1; seq <= 500; ++seq) h.feed(ext(6, seq, seq * 10, "x"), 0ms);
  h.advance(200ms);
  h.feed(ext(6, 100, 999999, "a new boot"), 300ms);
  h.advance(600ms);
  EXPECT_EQ(h.count(EventType::reboot), 1u);
  EXPECT_EQ(h.seqs().size(), 501u);
}

// A new stream's first records, then at once a boot that began while they were held: seq and
// ts alone say 0-5 came first with 6-4999 lost. Arrival says otherwise.
TEST(Sequencer, ARebootSeenInsideTheWindowIsWrittenAfterTheOldBootWithoutAFalseGap) {
  constexpr std::uint64_t kHours = 3ull * 3600 * 1'000'000;
  test::StreamHarness h;
  for (std::uint64_t seq = 5000; seq <= 5010; ++seq) h.feed(ext(6, seq, kHours + seq, "old boot"), 0ms);
  for (std::uint64_t seq = 0; seq <= 5; ++seq) h.feed(ext(6, seq, 1000 + seq, "new boot"), 2ms);
  h.advance(500ms);
  EXPECT_EQ(h.seqs(), (V{5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009, 5010, 0, 1, 2, 3, 4, 5}));
  ASSERT_EQ(h.count(EventType::reboot), 1u);
  EXPECT_EQ(h.events[11].type, EventType::reboot) << "between the boots";
  EXPECT_EQ(h.events[11].record.text, "lastgasp: reboot: a new boot begins at seq 0 after seq 5010");
  EXPECT_EQ(h.count(EventType::gap), 0u);
  EXPECT_EQ(h.counters.sequence.lost, 0u);
}

// A replay of the kernel's buffer (a target made by module parameter) sends hours of records
// within milliseconds; a few of them swapped on the way are still one boot.
TEST(Sequencer, AReplayedBufferReorderedAFewPlacesStaysOneBoot) {
  constexpr std::uint64_t kHour = 3600ull * 1'000'000;
  test::StreamHarness h;
  std::vector<std::uint64_t> order;
  for (std::uint64_t seq = 100; seq <= 400; ++seq) order.push_back(seq);
  std::swap(order[10], order[12]);   // 112 before 110
  std::swap(order[200], order[250]);  // 350 before 300, 50 places
  for (std::uint64_t seq : order) h.feed(ext(6, seq, seq * kHour / 100, "replayed"), 1ms);
  h.advance(500ms);
  V expected;
  for (std::uint64_t seq = 100; seq <= 400; ++seq) expected.push_back(seq);
  EXPECT_EQ(h.seqs(), expected);
  EXPECT_EQ(h.count(EventType::reboot), 0u);
  EXPECT_EQ(h.count(EventType::gap), 0u);
}

// Far behind in seq, but logged just before and arriving just after: the network's doing, one boot.
TEST(Sequencer, ARecordFarBehindButCloseInTimeIsNotANewBoot) {
  test::StreamHarness h;
  h.feed(ext(6, 5000, 10'000'000, "held"), 0ms);
  h.feed(ext(6, 4000, 9'800'000, "logged 0.2 s before, 1,000 records earlier"), 5ms);
  h.advance(500ms);
  EXPECT_EQ(h.seqs(), (V{4000, 5000}));
  EXPECT_EQ(h.count(EventType::reboot), 0u);
  EXPECT_EQ(h.count(EventType::gap), 1u);
}

TEST(Sequencer, MsgidSaysWhoLostTheMessages) {
  auto with_msgid = [](std::uint64_t seq, std::uint32_t msgid) {
    return ext(6, seq, 1000 + seq, "m", " msgid=" + std::to_string(msgid) + "\n");
  };
  test::StreamHarness h;
  h.feed(with_msgid(1, 10), 0ms);
  h.feed(with_msgid(4, 11), 1ms);   // seq 2-3 filtered by the kernel: msgid contiguous
  h.feed(with_msgid(7, 14), 2ms);   // seq 5-6 lost on the network: msgid 12-13 missing
  h.feed(with_msgid(11, 16), 3ms);  // seq 8-10: one lost on the network, two never sent
  h.advance(500ms);
  std::vector<std::string> gaps;
  for (const auto& e : h.events)
    if (e.type == EventType::gap) gaps.push_back(e.record.text);
  ASSERT_EQ(gaps.size(), 3u);
  EXPECT_EQ(gaps[0], "lastgasp: lost 2 messages (seq 2-3); the kernel never sent them (msgid 10 is followed by 11)");
  EXPECT_EQ(gaps[1], "lastgasp: lost 2 messages (seq 5-6); the network lost them (msgid 12-13 missing)");
  EXPECT_EQ(gaps[2], "lastgasp: lost 3 messages (seq 8-10); the network lost 1 and the kernel never sent 2");
}

TEST(Sequencer, TriggersMatchOnlyKernelRecordsAtTheStartOfTheText) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(4, 2, 1002, "WARNING: CPU: 1 PID: 2 at kernel/foo.c:1 bar+0x1/0x2"), 210ms);
  h.feed(ext(1, 3, 1003, "BUG: unable to handle page fault"), 211ms);
  h.feed(ext(4, 4, 1004, "Call Trace:"), 212ms);
  h.feed(ext(12, 5, 1005, "Kernel panic - not syncing: written by user space"), 213ms);
  h.feed(ext(4, 6, 1006, "a line that mentions Oops: in the middle"), 214ms);
  h.feed(ext(3, 7, 1007, "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [a:1]"), 215ms);
  h.feed(ext(3, 8, 1008, "INFO: task kworker:12 blocked for more than 120 seconds."), 216ms);
  h.feed(ext(0, 9, 1009, "Kernel panic - not syncing: Fatal exception"), 217ms);
  std::vector<std::string> kinds;
  for (const auto& e : h.events)
    if (e.type == EventType::incident) kinds.push_back(incident_name(e.incident));
  EXPECT_EQ(kinds, (std::vector<std::string>{"warning", "oops", "lockup", "hung", "panic"}));
}

TEST(Sequencer, ResumeAfterRestartWritesNoFalseGapOrReboot) {
  test::StreamHarness h;
  h.machine_.sequencer().resume({409, 4593654});
  h.feed(ext(6, 410, 4600000, "after the restart"), 0ms);
  EXPECT_EQ(h.seqs(), V{410}) << "known position: no window to wait";
  EXPECT_EQ(h.count(EventType::gap) + h.count(EventType::reboot), 0u);
}

TEST(Sequencer, DrainWritesEverythingHeld) {
  test::StreamHarness h;
  start(h);
  h.feed(ext(6, 3, 1003, "three"), 210ms);
  h.feed(ext(6, 9, 1009, "nine"), 211ms);
  h.drain();
  EXPECT_EQ(h.seqs(), (V{1, 3, 9}));
  EXPECT_EQ(h.count(EventType::gap), 2u);
  EXPECT_FALSE(h.machine_.next_deadline());
}

}  // namespace
}  // namespace lastgasp::stream
