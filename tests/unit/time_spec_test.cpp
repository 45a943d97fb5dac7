// `tail`'s --since/--until and -p, in journalctl's forms: local time where no
// zone is given (checked under a fixed TZ), relative times, spans, ranges.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "tail/entry.hpp"
#include "tail/render.hpp"
#include "tail/time_spec.hpp"

namespace lastgasp::tail {
namespace {

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kHour = 3600 * kSecond;

// Two hours east of UTC, no summer time: a POSIX TZ string, so no tzdata is needed.
class TimeSpec : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz ? std::optional<std::string>(tz) : std::nullopt;
    ::setenv("TZ", "XET-2", 1);
    ::tzset();
  }
  void TearDown() override {
    if (saved_) ::setenv("TZ", saved_->c_str(), 1);
    else ::unsetenv("TZ");
    ::tzset();
  }
  // 2026-11-30T21:30:00Z, which is 23:30 local.
  const std::int64_t now_ = *parse_time("2026-11-30T21:30:00Z", 0);
  std::optional<std::string> saved_;
};

TEST_F(TimeSpec, WrittenTimesAreLocalUnlessAZoneIsGiven) {
  EXPECT_EQ(parse_time("2026-11-30T21:30:00Z", 0), 1'796'074'200 * kSecond);
  EXPECT_EQ(parse_time("2026-11-30 20:00", now_), now_ - 3 * kHour - 30 * 60 * kSecond);
  EXPECT_EQ(parse_time("2026-11-30 20:00:15", now_), parse_time("2026-11-30T18:00:15Z", 0));
  EXPECT_EQ(parse_time("2026-11-30 20:00:15.25", now_), *parse_time("2026-11-30T18:00:15Z", 0) + 250'000);
  EXPECT_EQ(parse_time("2026-11-30 20:00 UTC", now_), parse_time("2026-11-30T20:00:00Z", 0));
  EXPECT_EQ(parse_time("2026-11-30 20:00Z", now_), parse_time("2026-11-30T20:00:00Z", 0));
  EXPECT_EQ(parse_time("2026-11-30 20:00 +01:00", now_), parse_time("2026-11-30T19:00:00Z", 0));
  EXPECT_EQ(parse_time("2026-11-30T20:00:00-0500", now_), parse_time("2026-12-01T01:00:00Z", 0));
  EXPECT_EQ(parse_time("2026-11-30", now_), parse_time("2026-11-29T22:00:00Z", 0)) << "a date is its local midnight";
  EXPECT_EQ(parse_time("20:00", now_), parse_time("2026-11-30T18:00:00Z", 0)) << "a time alone is today's";
}

TEST_F(TimeSpec, DaysAreLocalMidnights) {
  EXPECT_EQ(parse_time("today", now_), parse_time("2026-11-29T22:00:00Z", 0));
  EXPECT_EQ(parse_time("yesterday", now_), parse_time("2026-11-28T22:00:00Z", 0));
  EXPECT_EQ(parse_time("tomorrow", now_), parse_time("2026-11-30T22:00:00Z", 0));
  EXPECT_EQ(parse_time("now", now_), now_);
  EXPECT_EQ(parse_time("@1796074200", now_), 1'796'074'200 * kSecond);
}

TEST_F(TimeSpec, RelativeTimes) {
  EXPECT_EQ(parse_time("-1h", now_), now_ - kHour);
  EXPECT_EQ(parse_time("+30min", now_), now_ + 30 * 60 * kSecond);
  EXPECT_EQ(parse_time("1h30m ago", now_), now_ - 90 * 60 * kSecond);
  EXPECT_EQ(parse_time("2 days ago", now_), now_ - 48 * kHour);
  EXPECT_EQ(parse_time("-1h 5min", now_), now_ - 65 * 60 * kSecond);
  EXPECT_EQ(parse_time("10m", now_), now_ - 10 * 60 * kSecond) << "the old bare form: that long ago";
  EXPECT_EQ(parse_time("1d", now_), now_ - 24 * kHour);
}

TEST_F(TimeSpec, RefusesWhatIsNoTime) {
  for (const char* bad : {"", " ", "soon", "2026-13-01", "2026-11-30 25:00", "20", "-", "1 parsec ago", "Z",
                          "2026-11-30 20:00 CET", "2026-11-30X", "@12x", "99999999999999999999h"})
    EXPECT_FALSE(parse_time(bad, now_)) << bad;
}

TEST(Span, SystemdUnits) {
  EXPECT_EQ(parse_span_us("90s"), 90 * kSecond);
  EXPECT_EQ(parse_span_us("1h30m"), 90 * 60 * kSecond);
  EXPECT_EQ(parse_span_us("1.5h"), 90 * 60 * kSecond);
  EXPECT_EQ(parse_span_us("2 weeks"), 14 * 24 * kHour);
  EXPECT_EQ(parse_span_us("500ms"), 500'000);
  EXPECT_EQ(parse_span_us("1M"), 2'629'800 * kSecond) << "M is a month, m a minute";
  EXPECT_FALSE(parse_span_us("1 mo"));
  EXPECT_FALSE(parse_span_us("h"));
}

Priorities levels(std::initializer_list<int> kept) {
  Priorities p;
  for (int level : kept) p.set(static_cast<std::size_t>(level));
  return p;
}

TEST(Priority, NamesNumbersAndRangesAsJournalctl) {
  EXPECT_EQ(parse_priorities("err"), levels({0, 1, 2, 3})) << "a level and everything more severe";
  EXPECT_EQ(parse_priorities("3"), levels({0, 1, 2, 3}));
  EXPECT_EQ(parse_priorities("warning"), levels({0, 1, 2, 3, 4}));
  EXPECT_EQ(parse_priorities("warn"), parse_priorities("warning"));
  EXPECT_EQ(parse_priorities("error"), parse_priorities("err"));
  EXPECT_EQ(parse_priorities("emerg"), levels({0}));
  EXPECT_EQ(parse_priorities("debug"), levels({0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(parse_priorities("warning..err"), levels({3, 4})) << "either way round, both ends in";
  EXPECT_EQ(parse_priorities("err..warning"), levels({3, 4}));
  EXPECT_EQ(parse_priorities("2..5"), levels({2, 3, 4, 5}));
  EXPECT_EQ(parse_priorities("err+"), parse_priorities("err")) << "dmesg's habit";
  for (const char* bad : {"", "8", "-1", "fatal", "err..", "..err", "Err", "3..9"})
    EXPECT_FALSE(parse_priorities(bad)) << bad;
}

TEST(Grep, CaseInsensitiveWhenThePatternIsAllLowerCase) {
  Entry upper;
  upper.text = "Kernel panic - not syncing";
  std::string error;
  Filter smart;
  ASSERT_TRUE(smart.set_grep("kernel panic", std::nullopt, error)) << error;
  EXPECT_TRUE(smart.wants(upper));
  Filter exact;
  ASSERT_TRUE(exact.set_grep("KERNEL", std::nullopt, error)) << error;
  EXPECT_FALSE(exact.wants(upper)) << "an upper-case letter makes it case-sensitive";
  Filter forced;
  ASSERT_TRUE(forced.set_grep("kernel", true, error)) << error;
  EXPECT_FALSE(forced.wants(upper));
  Filter ignored;
  ASSERT_TRUE(ignored.set_grep("KERNEL", false, error)) << error;
  EXPECT_TRUE(ignored.wants(upper));
}

TEST(Filter, PriorityAndUntil) {
  Filter f;
  f.priorities = parse_priorities("warning..err");
  f.until_us = 100;
  Entry e;
  e.recv_us = 50;
  e.level = 3;
  EXPECT_TRUE(f.wants(e));
  e.level = 6;
  EXPECT_FALSE(f.wants(e));
  e.level = std::nullopt;
  EXPECT_TRUE(f.wants(e)) << "the receiver's own lines pass any priority";
  e.recv_us = 101;
  EXPECT_FALSE(f.wants(e));
}

// tail -o's times: journalctl's, in local time, and the ISO ones taken back by --since.
TEST_F(TimeSpec, OutputTimesAreJournalctlsInLocalTime) {
  const std::int64_t t = *parse_rfc3339("2026-11-25T22:00:01.250000Z");
  EXPECT_EQ(format_time(t, Output::short_), "Nov 26 00:00:01") << "two hours east: the next day";
  EXPECT_EQ(format_time(t, Output::short_precise), "Nov 26 00:00:01.250000");
  EXPECT_EQ(format_time(t, Output::short_iso), "2026-11-26T00:00:01+02:00");
  EXPECT_EQ(format_time(t, Output::short_iso_precise), "2026-11-26T00:00:01.250000+02:00");
  EXPECT_EQ(parse_time(format_time(t, Output::short_iso_precise), 0), t);
  ::setenv("TZ", "XST+5:30", 1);  // west, and not a whole hour
  ::tzset();
  EXPECT_EQ(format_time(t, Output::short_iso), "2026-11-25T16:30:01-05:30");
  EXPECT_EQ(parse_time(format_time(t, Output::short_iso), 0), t - 250'000);
}

}  // namespace
}  // namespace lastgasp::tail
