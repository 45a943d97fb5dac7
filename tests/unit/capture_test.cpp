// The real capture: a Debian 6.1 kernel under qemu logs test lines and a
// fragmented record, panics with sysrq-c, reboots, and re-sends its pstore
// record through /dev/kmsg (facility user) in the second boot.
#include <gtest/gtest.h>

#include "capture.hpp"
#include "stream_harness.hpp"

namespace lastgasp::stream {
namespace {

using namespace std::chrono_literals;

class RealCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& p : test::load_capture(test::data_path("capture-6.1-panic.txt"))) {
      auto t = std::chrono::milliseconds(static_cast<long>(p.time * 1000));
      h.advance(t);
      h.feed(p.payload, t);
    }
    h.advance(60'000ms);
  }
  std::vector<const Event*> of(EventType type) const {
    std::vector<const Event*> out;
    for (const auto& e : h.events)
      if (e.type == type) out.push_back(&e);
    return out;
  }
  test::StreamHarness h;
};

TEST_F(RealCapture, EveryRecordOfBothBootsIsWrittenInOrder) {
  std::vector<std::uint64_t> boot1, boot2;
  bool rebooted = false;
  for (const auto& e : h.events) {
    if (e.type == EventType::reboot) rebooted = true;
    if (e.type == EventType::record) (rebooted ? boot2 : boot1).push_back(*e.record.seq);
  }
  ASSERT_EQ(boot1.size(), 44u);
  ASSERT_EQ(boot2.size(), 410u);
  for (std::size_t i = 0; i < boot1.size(); ++i) EXPECT_EQ(boot1[i], 366 + i);
  for (std::size_t i = 0; i < boot2.size(); ++i) EXPECT_EQ(boot2[i], 367 + i);
  EXPECT_EQ(of(EventType::reboot).size(), 1u);
  EXPECT_EQ(of(EventType::gap).size(), 0u);
  EXPECT_EQ(h.counters.sequence.duplicates, 0u);
  EXPECT_EQ(h.counters.wire.malformed_total(), 0u);
}

TEST_F(RealCapture, TheFragmentedRecordIsWhole) {
  for (const auto& e : h.events) {
    if (e.record.seq != 369u || e.record.text.starts_with("E2E-PSTORE")) continue;
    EXPECT_TRUE(e.record.text.starts_with("E2E: long line xxx"));
    EXPECT_TRUE(e.record.text.ends_with("xxx END"));
    EXPECT_EQ(e.record.text.size(), 984u);
    EXPECT_EQ(e.record.missing_bytes, 0u);
    return;
  }
  FAIL() << "seq 369 not found";
}

TEST_F(RealCapture, TheKernelPanicIsTheOnlyIncidentAndTheLastWordsAreThere) {
  auto incidents = of(EventType::incident);
  ASSERT_EQ(incidents.size(), 1u) << "the pstore copy re-sent by user space must not count";
  EXPECT_EQ(incidents[0]->incident, IncidentKind::panic);
  EXPECT_EQ(incidents[0]->record.text, "lastgasp: panic Kernel panic - not syncing: sysrq triggered crash");
  const Event* reboot = of(EventType::reboot)[0];
  const Event* last_of_boot1 = reboot - 1;
  EXPECT_EQ(last_of_boot1->record.text, "Rebooting in 1 seconds..");
  EXPECT_EQ(h.events[2].record.text, "E2E: a line with non-ascii: caf\\xc3\\xa9 tab[\\x09] end");
}

}  // namespace
}  // namespace lastgasp::stream
