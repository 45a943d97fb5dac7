// The console.log line, written and split back: the columns exactly as
// documented in sinks/log_line.hpp (receive time in UTC to the microsecond,
// facility.level, seq, the kernel's time as dmesg prints it, text, fields).
#include <gtest/gtest.h>

#include "sinks/log_line.hpp"

namespace lastgasp::sinks {
namespace {

using namespace std::chrono;

stream::Event record(std::optional<std::uint16_t> prio, std::optional<std::uint64_t> seq,
                     std::optional<std::uint64_t> ts_usec, std::int64_t wall_usec) {
  stream::Event e;
  e.record.prio = prio;
  e.record.seq = seq;
  e.record.ts_usec = ts_usec;
  e.record.text = "text";
  e.record.arrived.wall = wire::WallTime(microseconds(wall_usec));
  return e;
}

std::string line_of(const stream::Event& e, std::optional<std::uint16_t> src = std::nullopt) {
  TimeFormatter time;
  std::string out;
  append_log_line(out, e, src, time);
  return out;
}

// 2026-11-30T20:00:00Z
constexpr std::int64_t kWall = 1'796'068'800'000'000;

TEST(LogLine, ColumnsArePaddedAsDmesgAndIsoPrintThem) {
  EXPECT_EQ(line_of(record(6, 7, 4'568'770, kWall + 42)),
            "2026-11-30T20:00:00.000042Z\tkern.info\t7\t[    4.568770]\ttext\n");
  EXPECT_EQ(line_of(record(0, 1, 0, kWall + 999'999)), "2026-11-30T20:00:00.999999Z\tkern.emerg\t1\t[    0.000000]\ttext\n");
  EXPECT_EQ(line_of(record((23 << 3) | 7, 18446744073709551615u, 123'456'000'001, kWall + 1'000'000)),
            "2026-11-30T20:00:01.000000Z\tlocal7.debug\t18446744073709551615\t[123456.000001]\ttext\n");
  EXPECT_EQ(line_of(record((30 << 3) | 3, std::nullopt, std::nullopt, kWall)),
            "2026-11-30T20:00:00.000000Z\tfac30.err\t-\t-\ttext\n");
  EXPECT_EQ(line_of(record(std::nullopt, std::nullopt, std::nullopt, kWall)), "2026-11-30T20:00:00.000000Z\t-\t-\t-\ttext\n");
}

TEST(LogLine, OurOwnLinesFieldsAndThePortSplitBackIntoTheirColumns) {
  stream::Event e = record(std::nullopt, std::nullopt, std::nullopt, kWall - 1);  // before the second: rounds down
  e.type = stream::EventType::gap;
  e.record.fields = {{"lost", "2"}, {"cause", "network"}};
  std::string line = line_of(e, 6665);
  EXPECT_EQ(line, "2026-11-30T19:59:59.999999Z\tlastgasp\t-\t-\ttext\tlost=2 cause=network src=6665\n");
  line.pop_back();
  auto cols = split_log_line(line);
  ASSERT_TRUE(cols);
  EXPECT_EQ(cols->recv_time, "2026-11-30T19:59:59.999999Z");
  EXPECT_EQ(cols->level, "lastgasp");
  EXPECT_EQ(cols->text, "text");
  EXPECT_EQ(cols->fields, "lost=2 cause=network src=6665");
}

}  // namespace
}  // namespace lastgasp::sinks
