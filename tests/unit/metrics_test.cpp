// The exposition text and the HTTP side's small parsers, in memory.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "daemon/metrics.hpp"
#include "http/http_server.hpp"

namespace lastgasp {
namespace {

TEST(Metrics, LabelValuesEscapeBackslashQuoteNewlineAndAnyByteNotPrintable) {
  EXPECT_EQ(daemon::label_value("web1.example-2_a"), "web1.example-2_a");
  EXPECT_EQ(daemon::label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(daemon::label_value(std::string("\x1b[31m\xff\x00", 7)), "\\\\x1b[31m\\\\xff\\\\x00");
}

// Every sample belongs to the family whose HELP and TYPE came last, and each family comes once.
TEST(Metrics, EachFamilyOnceWithHelpAndTypeBeforeItsSamples) {
  daemon::MetricsInput in;
  in.hosts.push_back({"web1", {}});
  in.hosts.push_back({"db\"1", {}});
  in.hosts[0].state.last_event = "panic";
  in.hosts[0].state.panics = 3;
  std::istringstream text(daemon::render_metrics(in));
  std::set<std::string> families;
  std::string line, current;
  unsigned samples = 0;
  while (std::getline(text, line)) {
    if (line.starts_with("# HELP ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(families.insert(current).second) << "twice: " << current;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      EXPECT_TRUE(line.starts_with("# TYPE " + current + " ")) << line;
      continue;
    }
    std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(name, current) << line;
    ++samples;
  }
  EXPECT_GT(samples, 40u);
  EXPECT_NE(text.str().find("lastgasp_host_panics_total{host=\"web1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.str().find("lastgasp_host_state{host=\"web1\",state=\"panicked\"} 1\n"), std::string::npos);
  EXPECT_NE(text.str().find("lastgasp_host_state{host=\"db\\\"1\",state=\"panicked\"} 0\n"), std::string::npos);
}

TEST(HttpQuery, OnlyAWholeNonNegativeNumberForTheKey) {
  EXPECT_EQ(http::query_number("silent_after=60", "silent_after"), 60);
  EXPECT_EQ(http::query_number("a=1&silent_after=5&b", "silent_after"), 5);
  EXPECT_EQ(http::query_number("silent_after=-1", "silent_after"), std::nullopt);
  EXPECT_EQ(http::query_number("silent_after=5x", "silent_after"), std::nullopt);
  EXPECT_EQ(http::query_number("silent_afterx=5", "silent_after"), std::nullopt);
  EXPECT_EQ(http::query_number("silent_after=99999999999999999999999", "silent_after"), std::nullopt);
  EXPECT_EQ(http::query_number("", "silent_after"), std::nullopt);
}

TEST(HttpQuery, ValuesArePercentDecodedAndAllOfThemKept) {
  using Values = std::optional<std::vector<std::string>>;
  EXPECT_EQ(http::query_values("host=web%2A&level=err%2B&host=db+1", "host"), (Values{{"web*", "db 1"}}));
  EXPECT_EQ(http::query_values("hostx=a&xhost=b", "host"), Values{std::vector<std::string>{}});
  EXPECT_EQ(http::query_values("grep=%3Cscript%3E", "grep"), Values{{"<script>"}});
  EXPECT_EQ(http::query_values("grep=", "grep"), Values{{""}});
  EXPECT_EQ(http::query_values("grep=%00a", "grep"), Values{{std::string("\0a", 2)}}) << "a byte, for RE2 to judge";
  EXPECT_EQ(http::query_values("grep=%zz", "grep"), std::nullopt);
  EXPECT_EQ(http::query_values("grep=%4", "grep"), std::nullopt);
  EXPECT_EQ(http::query_values("grep=%", "grep"), std::nullopt);
}

TEST(HttpToken, OnlyTheBearerTokenItself) {
  http::Token none;
  EXPECT_TRUE(none.accepts(""));
  http::Token token("s3cret");
  EXPECT_TRUE(token.accepts("Bearer s3cret"));
  EXPECT_TRUE(token.accepts("bearer s3cret"));
  for (const char* wrong : {"", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cret ", "Basic s3cret", "s3cret"})
    EXPECT_FALSE(token.accepts(wrong)) << wrong;
}

}  // namespace
}  // namespace lastgasp
