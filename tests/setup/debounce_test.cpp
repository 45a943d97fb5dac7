// The watch's debounce, on an injected clock: a burst gives one re-resolve
// after the quiet time, and a steady trickle cannot postpone it past the bound.
#include <gtest/gtest.h>

#include "debounce.hpp"

namespace lastgasp::setup {
namespace {

using std::chrono::milliseconds;
const Debounce::Clock::time_point t0{};

TEST(Debounce, NothingPendingNothingDue) {
  Debounce d(milliseconds(200), milliseconds(500));
  EXPECT_FALSE(d.due());
  EXPECT_FALSE(d.take(t0 + milliseconds(10000)));
}

TEST(Debounce, ABurstGivesOneActionAfterTheQuietTime) {
  Debounce d(milliseconds(200), milliseconds(500));
  for (int i = 0; i < 50; ++i) d.trigger(t0 + milliseconds(i));
  EXPECT_EQ(d.due(), t0 + milliseconds(249));
  EXPECT_FALSE(d.take(t0 + milliseconds(248)));
  EXPECT_TRUE(d.take(t0 + milliseconds(249)));
  EXPECT_FALSE(d.take(t0 + milliseconds(1000)));
  EXPECT_FALSE(d.due());
}

TEST(Debounce, ATrickleActsAtTheBoundAndStartsAfresh) {
  Debounce d(milliseconds(200), milliseconds(500));
  for (int i = 0; i <= 450; i += 50) d.trigger(t0 + milliseconds(i));
  EXPECT_EQ(d.due(), t0 + milliseconds(500));
  EXPECT_TRUE(d.take(t0 + milliseconds(500)));
  d.trigger(t0 + milliseconds(510));
  EXPECT_EQ(d.due(), t0 + milliseconds(710));
}

}  // namespace
}  // namespace lastgasp::setup
