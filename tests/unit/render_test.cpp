// `tail -o json` and /api/stream's objects are written by hand (one per record of the stream):
// here every one is checked against what nlohmann::json makes of it, so the bytes stay those a
// JSON library writes (keys sorted, its layout), and whatever a log line holds, the object is
// valid JSON (the library throws on invalid UTF-8) and says what the line says.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>

#include "tail/entry.hpp"
#include "tail/render.hpp"

namespace lastgasp::tail {
namespace {

constexpr std::string_view kTime = "2026-11-30T20:00:04.123456Z";

std::string line(std::string_view level, std::string_view seq, std::string_view ktime, std::string_view text,
                 std::string_view fields) {
  std::string out = std::string(kTime) + "\t" + std::string(level) + "\t" + std::string(seq) + "\t" +
                    std::string(ktime) + "\t" + std::string(text);
  if (!fields.empty()) out += "\t" + std::string(fields);
  return out;
}

// The object as the library writes it, compact or indented, and as it reads.
nlohmann::json checked(const std::string& host, const std::string& log_line) {
  auto entry = Entry::parse(host, log_line);
  if (!entry) throw std::runtime_error("not a log line: " + log_line);
  std::string compact = render(*entry, {.output = Output::json});
  std::string pretty = render(*entry, {.output = Output::json_pretty});
  nlohmann::json parsed = nlohmann::json::parse(compact);  // throws on anything that is not JSON
  EXPECT_EQ(compact, parsed.dump() + "\n");
  EXPECT_EQ(pretty, parsed.dump(2) + "\n");
  EXPECT_EQ(parsed, nlohmann::json::parse(pretty));
  return parsed;
}

TEST(JsonRender, AKernelRecordWithItsColumnsAndFields) {
  auto j = checked("web-1", line("kern.err", "1234", "[    4.568770]", "e1000e: \"eth0\" NIC Link is Down \\x1b",
                                 "SUBSYSTEM=net DEVICE=n2 SUBSYSTEM=pci"));
  EXPECT_EQ(j["host"], "web-1");
  EXPECT_EQ(j["recv_time"], kTime);
  EXPECT_EQ(j["facility"], "kern");
  EXPECT_EQ(j["level"], "err");
  EXPECT_EQ(j["seq"], 1234);
  EXPECT_EQ(j["ktime_usec"], 4568770);
  EXPECT_EQ(j["text"], "e1000e: \"eth0\" NIC Link is Down \\x1b");
  EXPECT_EQ(j["fields"], (nlohmann::json{{"DEVICE", "n2"}, {"SUBSYSTEM", "pci"}}));  // the last of a key counts
  EXPECT_EQ(j["event"], nullptr);
}

TEST(JsonRender, TheReceiversOwnLineHasNullsForWhatItLacks) {
  auto j = checked("web-1", line("lastgasp", "-", "-", "lastgasp: panic trigger_seq=7", "kind=panic"));
  EXPECT_EQ(j["level"], nullptr);
  EXPECT_EQ(j["facility"], nullptr);
  EXPECT_EQ(j["seq"], nullptr);
  EXPECT_EQ(j["ktime_usec"], nullptr);
  EXPECT_EQ(j["event"], "panic");
  EXPECT_EQ(j["fields"]["kind"], "panic");
}

TEST(JsonRender, BytesNoTerminalShouldSeeAreWrittenAsHexInValidUtf8) {
  // An overlong '/', a surrogate, a code point past U+10FFFF, a C1 control, a cut sequence, a
  // byte that never begins one:
  // each byte as \xNN; valid UTF-8 stays as it is.
  auto j = checked("h\x01", line("kern.info", "1", "-", "a\xc0\xaf b\xed\xa0\x80 c\xf4\x90\x80\x80 d\xc2\x85 e\xe2\x82 f\xf5\x80\x80 "
                                                        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x92\xa5",
                                 "k\x7f=v\xff"));
  EXPECT_EQ(j["host"], "h\\x01");
  EXPECT_EQ(j["text"], "a\\xc0\\xaf b\\xed\\xa0\\x80 c\\xf4\\x90\\x80\\x80 d\\xc2\\x85 e\\xe2\\x82 f\\xf5\\x80\\x80 "
                       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x92\xa5");
  EXPECT_EQ(j["fields"]["k\\x7f"], "v\\xff");
}

// Lines of random bytes in every column a line may hold them in, bounded in count.
TEST(JsonRender, RandomBytesAlwaysMakeTheLibrarysObject) {
  std::mt19937 random(20261203);
  auto bytes = [&](std::size_t max) {
    std::string out(random() % (max + 1), '\0');
    for (char& c : out) {
      c = static_cast<char>(random() % 256);
      if (c == '\t' || c == '\n' || c == '\0') c = '"';
    }
    return out;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string fields = bytes(8) + "=" + bytes(8) + " " + bytes(12);
    ASSERT_NO_THROW(checked("h" + bytes(6), line("k" + bytes(10), "1" + bytes(4), "[" + bytes(6), "t" + bytes(60), fields)))
        << i;
  }
}

}  // namespace
}  // namespace lastgasp::tail
