#include <gtest/gtest.h>

#include "stream_harness.hpp"

namespace lastgasp::wire {
namespace {

using namespace std::chrono_literals;

TEST(Legacy, TimestampAndPrioBecomeColumns) {
  test::StreamHarness h;
  h.feed("[    4.568770] Kernel panic - not syncing: sysrq triggered crash\n", 0ms);
  h.feed("<4>[   12.000001] CPU: 0 PID: 1\n", 1ms);
  ASSERT_EQ(h.events.size(), 3u);  // the panic, its marker line, the next line
  EXPECT_EQ(h.events[0].record.text, "Kernel panic - not syncing: sysrq triggered crash");
  EXPECT_EQ(h.events[0].record.ts_usec, 4568770u);
  EXPECT_FALSE(h.events[0].record.prio);
  EXPECT_EQ(h.events[1].type, stream::EventType::incident);
  EXPECT_EQ(h.events[2].record.prio, 4);
  EXPECT_EQ(h.events[2].record.ts_usec, 12000001u);
}

TEST(Legacy, LinesAreJoinedAcrossDatagrams) {
  test::StreamHarness h;
  std::string line = "[    1.000000] " + std::string(2500, 'y') + " end";
  for (std::size_t off = 0; off < line.size(); off += 1000) h.feed(line.substr(off, 1000), 0ms);
  h.feed("\n[    1.000001] next\n", 1ms);
  ASSERT_EQ(h.events.size(), 2u);
  EXPECT_EQ(h.events[0].record.text, std::string(2500, 'y') + " end");
  EXPECT_EQ(h.events[1].record.text, "next");
}

TEST(Legacy, PartialLastLineIsWrittenAfterAShortTimeout) {
  test::StreamHarness h;
  h.feed("[    9.999999] Rebooting in 1 seconds..", 0ms);
  h.advance(20ms);
  EXPECT_TRUE(h.events.empty());
  h.advance(150ms);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, "Rebooting in 1 seconds..");
}

TEST(Legacy, ControlBytesAndTabsAreEscaped) {
  test::StreamHarness h;
  h.feed(std::string("[    1.000000] a\tb\x1b[0m\0z\n", 26), 0ms);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, "a\\x09b\\x1b[0m\\x00z");
}

// Legacy text comes raw, so its backslashes are escaped as the kernel escapes them in extended
// records: a literal "\x1b" typed into a message and a real ESC byte stay told apart.
TEST(Legacy, ABackslashIsEscapedSoALiteralEscapeIsNotARealOne) {
  test::StreamHarness h;
  h.feed("[    1.000000] typed \\x1b, real \x1b, path C:\\dir\n", 0ms);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, "typed \\x5cx1b, real \\x1b, path C:\\x5cdir");
}

TEST(Legacy, MalformedHeadersAreKeptAsTextAndCounted) {
  test::StreamHarness h;
  h.feed("6,99999999999999999999999,1,-;overflowing\n", 0ms);
  h.feed("6,1,1,?;odd flag\n", 0ms);
  ASSERT_EQ(h.events.size(), 2u);
  EXPECT_EQ(h.events[0].record.text, "6,99999999999999999999999,1,-;overflowing");
  EXPECT_EQ(h.counters.wire.malformed[static_cast<unsigned>(Malformed::number_overflow)], 1u);
  EXPECT_EQ(h.counters.wire.malformed[static_cast<unsigned>(Malformed::bad_header)], 1u);
}

// The receiver's text back to bytes: \xNN is the only escape.
std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x') {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 2, 2)), nullptr, 16));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

TEST(Legacy, A64KiBDatagramOfGarbageIsBoundedAndKept) {
  test::StreamHarness h;
  std::string garbage(65507, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) {
    char c = static_cast<char>((i * 131 + 7) % 256);
    // No '<', '[' (a line's level and time are taken out of its text) or '\r' (dropped at a line's end).
    garbage[i] = c == '<' || c == '[' || c == '\r' ? 'x' : c;
  }
  h.feed(garbage, 0ms);
  h.drain();
  std::string kept;
  for (const auto& e : h.events) {
    EXPECT_EQ(e.record.text.find_first_of(std::string("\0\t\n\r\x1b", 5)), std::string::npos);
    EXPECT_LE(e.record.text.size(), 4 * kMaxLegacyLine) << "a runaway line is cut at kMaxLegacyLine bytes";
    kept += unescape(e.record.text);
  }
  std::string expected = garbage;
  std::erase(expected, '\n');
  EXPECT_EQ(kept, expected) << "every byte kept, control bytes and backslashes written as \\xNN";
}

}  // namespace
}  // namespace lastgasp::wire
