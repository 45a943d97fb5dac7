// The RFC 5424 message a record becomes, against messages written out by hand.
#include <gtest/gtest.h>

#include "forward/syslog_message.hpp"

namespace lastgasp::forward {
namespace {

using namespace std::chrono_literals;

stream::Event record(std::uint16_t prio, std::uint64_t seq, std::uint64_t ts, std::string text,
                     std::vector<wire::Field> fields = {}) {
  stream::Event e;
  e.record.prio = prio;
  e.record.seq = seq;
  e.record.ts_usec = ts;
  e.record.text = std::move(text);
  e.record.fields = std::move(fields);
  // 2026-11-30T20:00:00.000123Z
  e.record.arrived.wall = wire::WallTime(1796068800s + 123us);
  return e;
}

std::string format(const stream::Event& e, Origin origin = {"web-7", 3, std::nullopt}) {
  SyslogFormatter f;
  std::string out;
  f.append(out, e, origin);
  return out;
}

TEST(SyslogMessage, AKernelRecordKeepsItsFacilityLevelAndPlace) {
  EXPECT_EQ(format(record(3, 372, 4568770, "Kernel panic - not syncing: sysrq triggered crash",
                          {{"SUBSYSTEM", "net"}, {"DEVICE", "+pci:0000:00:03.0"}})),
            "<3>1 2026-11-30T20:00:00.000123Z web-7 kernel - - [lastgasp@32473 seq=\"372\" "
            "ktime_usec=\"4568770\" boot=\"3\" event=\"record\" SUBSYSTEM=\"net\" DEVICE=\"+pci:0000:00:03.0\"] "
            "Kernel panic - not syncing: sysrq triggered crash");
}

TEST(SyslogMessage, AUserspaceFacilityIsNotClampedToKern) {
  // <30> is daemon.info, as written to /dev/kmsg by systemd.
  EXPECT_TRUE(format(record(30, 1, 5, "systemd[1]: Started")).starts_with("<30>1 "));
}

TEST(SyslogMessage, AFacilityRfc5424CannotCarryIsSentAsKernAndKept) {
  // facility 100, level 6: PRI 806 would be no valid message
  EXPECT_EQ(format(record(100 * 8 + 6, 9, 10, "x")),
            "<6>1 2026-11-30T20:00:00.000123Z web-7 kernel - - [lastgasp@32473 seq=\"9\" ktime_usec=\"10\" "
            "boot=\"3\" event=\"record\" facility=\"100\"] x");
}

TEST(SyslogMessage, OurPanicLineHasItsMsgidAndAnEmergLevel) {
  stream::Event e;
  e.type = stream::EventType::incident;
  e.incident = stream::IncidentKind::panic;
  e.record.text = "lastgasp: panic Kernel panic - not syncing: ...";
  e.record.fields = {{"kind", "panic"}, {"trigger_seq", "372"}};
  e.record.arrived.wall = wire::WallTime(1796068800s);
  EXPECT_EQ(format(e, {"fd00::7", 1, 6666}),
            "<0>1 2026-11-30T20:00:00.000000Z fd00::7 lastgasp - panic [lastgasp@32473 boot=\"1\" src=\"6666\" "
            "event=\"incident\" kind=\"panic\" trigger_seq=\"372\"] lastgasp: panic Kernel panic - not syncing: ...");
}

TEST(SyslogMessage, EachOfOurEventsHasItsMsgid) {
  for (auto [type, id] : {std::pair{stream::EventType::gap, " gap "}, {stream::EventType::reboot, " reboot "},
                          {stream::EventType::pstore, " pstore "}}) {
    stream::Event e;
    e.type = type;
    e.incident = stream::IncidentKind::oops;
    EXPECT_NE(format(e).find(std::string(" lastgasp -") + id + "[lastgasp@32473"), std::string::npos) << id;
  }
  stream::Event oops;
  oops.type = stream::EventType::incident;
  oops.incident = stream::IncidentKind::oops;
  EXPECT_TRUE(format(oops).starts_with("<2>1 ")) << format(oops);
  EXPECT_NE(format(oops).find(" lastgasp - incident ["), std::string::npos);
}

TEST(SyslogMessage, AFieldThatWouldForgeOurPlaceGoesWholeIntoField) {
  std::string m = format(record(6, 5, 1, "t", {{"seq", "999"}, {"boot", "0"}, {"a=b", "c"}, {std::string(33, 'k'), "v"}}));
  EXPECT_NE(m.find("seq=\"5\""), std::string::npos);
  EXPECT_EQ(m.find("seq=\"999\""), std::string::npos) << m;
  EXPECT_NE(m.find("field=\"seq=999\" field=\"boot=0\" field=\"a=b=c\" field=\"" + std::string(33, 'k') + "=v\"]"),
            std::string::npos)
      << m;
}

TEST(SyslogMessage, ParamValuesEscapeQuoteBackslashAndBracket) {
  std::string m = format(record(6, 5, 1, "t", {{"k", "a\"b\\c]d"}}));
  EXPECT_NE(m.find("k=\"a\\\"b\\\\c\\]d\"]"), std::string::npos) << m;
}

TEST(SyslogMessage, TheTextIsTheEscapedTextOfTheLogAndTheHostIsPrintable) {
  std::string m = format(record(6, 5, 1, "a\\x1bb ] \"q\""), {"bad host\n", 0, std::nullopt});
  EXPECT_NE(m.find(" bad_host_ kernel "), std::string::npos) << m;
  EXPECT_TRUE(m.ends_with("] a\\x1bb ] \"q\"")) << m;
}

TEST(SyslogMessage, OctetCountingCountsBytes) {
  std::string out;
  append_octet_counted(out, "<6>1 - - - - - - h\xc3\xa9");
  EXPECT_EQ(out, "20 <6>1 - - - - - - h\xc3\xa9");  // é is two bytes
}

TEST(SyslogMessage, SdNames) {
  EXPECT_TRUE(is_sd_name("SUBSYSTEM"));
  EXPECT_TRUE(is_sd_name("sender.boot"));
  EXPECT_FALSE(is_sd_name(""));
  EXPECT_FALSE(is_sd_name(std::string(33, 'a')));
  for (std::string_view bad : {"a b", "a=b", "a]", "a\"", "a\x7f", "\xc3\xa9"}) EXPECT_FALSE(is_sd_name(bad)) << bad;
}

}  // namespace
}  // namespace lastgasp::forward
