#include <gtest/gtest.h>

#include "stream_harness.hpp"
#include "wire/extended.hpp"

namespace lastgasp::wire {
namespace {

using test::ext;
using namespace std::chrono_literals;

TEST(ExtendedHeader, ParsesTheFourFields) {
  ExtendedHeader h;
  ASSERT_EQ(parse_extended_header("4,373,4569264,-;CPU: 0 PID: 1\n", h), HeaderStatus::ok);
  EXPECT_EQ(h.prio, 4);
  EXPECT_EQ(h.seq, 373u);
  EXPECT_EQ(h.ts_usec, 4569264u);
  EXPECT_EQ(h.flag, '-');
  EXPECT_FALSE(h.fragmented);
  EXPECT_EQ(h.body, "CPU: 0 PID: 1\n");
}

TEST(ExtendedHeader, ReleasePrefixCallerAndFragment) {
  ExtendedHeader h;
  ASSERT_EQ(parse_extended_header("6.12.48+deb12-amd64,6,444,501151268,c,caller=T12,ncfrag=1000/2345;abc", h),
            HeaderStatus::ok);
  EXPECT_EQ(h.release, "6.12.48+deb12-amd64");
  EXPECT_EQ(h.prio, 6);
  EXPECT_EQ(h.seq, 444u);
  EXPECT_EQ(h.flag, 'c');
  EXPECT_EQ(h.extras, "caller=T12");
  EXPECT_TRUE(h.fragmented);
  EXPECT_EQ(h.frag_offset, 1000u);
  EXPECT_EQ(h.frag_total, 2345u);
  EXPECT_EQ(h.body, "abc");
}

TEST(ExtendedHeader, LegacyTextIsNotAHeader) {
  ExtendedHeader h;
  EXPECT_EQ(parse_extended_header("[    4.568770] Kernel panic - not syncing: x\n", h), HeaderStatus::not_extended);
  EXPECT_EQ(parse_extended_header("<0>[    4.568770] Kernel panic; x\n", h), HeaderStatus::not_extended);
  EXPECT_EQ(parse_extended_header("hello world", h), HeaderStatus::not_extended);
}

TEST(ExtendedHeader, MalformedHeadersAreNamed) {
  ExtendedHeader h;
  EXPECT_EQ(parse_extended_header("6,99999999999999999999999,1,-;x", h), HeaderStatus::number_overflow);
  EXPECT_EQ(parse_extended_header("6,1,99999999999999999999999,-;x", h), HeaderStatus::number_overflow);
  EXPECT_EQ(parse_extended_header("9999,1,1,-;x", h), HeaderStatus::number_overflow);
  EXPECT_EQ(parse_extended_header("6,1,1,-,ncfrag=1/99999999999;x", h), HeaderStatus::number_overflow);
  EXPECT_EQ(parse_extended_header("6,1,1,x;x", h), HeaderStatus::bad_header);
  EXPECT_EQ(parse_extended_header("6,1,-;x", h), HeaderStatus::bad_header);
  EXPECT_EQ(parse_extended_header("6,1,1,-,ncfrag=12;x", h), HeaderStatus::bad_header);
  EXPECT_EQ(parse_extended_header("6,1,1,-,junk;x", h), HeaderStatus::bad_header);
  EXPECT_EQ(parse_extended_header("6,1a,1,-;x", h), HeaderStatus::bad_header);
}

TEST(ExtendedBody, KeepsEscapesAndParsesDictionaryUserdataAndSysdata) {
  test::StreamHarness h;
  h.feed("6.12.0,4,10,20,-;caf\\xc3\\xa9 tab[\\x09] end\n SUBSYSTEM=net\n DEVICE=+net:eth0\n"
         " host=web 1\n cpu=3\n taskname=kworker/0:1\n release=6.12.0\n msgid=77\n",
         0ms);
  h.advance(1000ms);
  ASSERT_EQ(h.events.size(), 1u);
  const Record& r = h.events[0].record;
  EXPECT_EQ(r.text, "caf\\xc3\\xa9 tab[\\x09] end");
  EXPECT_EQ(r.level(), 4u);
  EXPECT_EQ(r.facility(), 0u);
  EXPECT_EQ(r.msgid, 77u);
  std::vector<Field> expected = {{"release", "6.12.0"}, {"SUBSYSTEM", "net"}, {"DEVICE", "+net:eth0"},
                                 {"host", "web\\x201"},  {"cpu", "3"},        {"taskname", "kworker/0:1"},
                                 {"msgid", "77"}};
  EXPECT_EQ(r.fields, expected);
}

TEST(ExtendedBody, RawControlBytesAndNulAreEscapedAndCounted) {
  test::StreamHarness h;
  h.feed(ext(6, 1, 1, std::string("a\tb\0c\x1b[31m", 10)), 0ms);
  h.advance(1000ms);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].record.text, "a\\x09b\\x00c\\x1b[31m");
  EXPECT_EQ(h.counters.wire.malformed[static_cast<unsigned>(Malformed::nul_bytes)], 1u);
}

TEST(ExtendedBody, ContinuationFlagAndCallerBecomeFields) {
  test::StreamHarness h;
  h.feed("6,5,100,c,caller=C1;part\n", 0ms);
  h.advance(1000ms);
  ASSERT_EQ(h.events.size(), 1u);
  std::vector<Field> expected = {{"cont", "c"}, {"caller", "C1"}};
  EXPECT_EQ(h.events[0].record.fields, expected);
}

TEST(ExtendedBody, ASendersFieldNamedLikeTheReceiversOwnIsKeptUnderSenderPrefix) {
  test::StreamHarness h;
  h.feed("6,5,100,-;forged\n src=1234\n late=1\n boot=9\n kind=panic\n lost=5\n host=web\n", 0ms);
  h.advance(1000ms);
  ASSERT_EQ(h.events.size(), 1u);
  std::vector<Field> expected = {{"sender.src", "1234"}, {"sender.late", "1"},  {"sender.boot", "9"},
                                 {"sender.kind", "panic"}, {"sender.lost", "5"}, {"host", "web"}};
  EXPECT_EQ(h.events[0].record.fields, expected);
  EXPECT_FALSE(is_receiver_key("host"));
  EXPECT_TRUE(is_receiver_key("trigger_seq"));
}

}  // namespace
}  // namespace lastgasp::wire
