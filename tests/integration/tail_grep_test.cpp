// `tail --grep` over records as long as the wire carries, written by the real
// daemon: std::regex recursed once per character and overflowed the stack on
// `(a|b)*c` over a 40 KB line; the matcher must answer, not crash.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "receiver_process.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

std::string header(std::uint64_t seq, const std::string& extra = "") {
  return "6," + std::to_string(seq) + "," + std::to_string(seq * 100) + ",-" + extra + ";";
}

std::string alternating_ab(std::size_t size) {
  std::string text;
  for (std::size_t i = 0; i < size; ++i) text += i % 2 ? 'b' : 'a';
  return text;
}

// TEXT in ncfrag slices of SLICE bytes, as netconsole sends a record too long for one datagram.
void send_fragmented(UdpSender& sender, std::uint64_t seq, const std::string& text, std::size_t slice) {
  for (std::size_t offset = 0; offset < text.size(); offset += slice)
    sender.send(header(seq, ",ncfrag=" + std::to_string(offset) + "/" + std::to_string(text.size())) +
                text.substr(offset, slice));
}

class TailGrep : public ::testing::Test {
 protected:
  std::vector<nlohmann::json> tail_json(const std::string& pattern) {
    std::string out;
    EXPECT_EQ(run_command({kReceiverBinary, "tail", "--log-dir", logs_.path().string(), "-n", "100", "-o", "json",
                           "--grep", pattern},
                          out),
              0)
        << out.substr(0, 2000);
    std::vector<nlohmann::json> entries;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) entries.push_back(nlohmann::json::parse(line));
    return entries;
  }
  TempDir logs_;
};

TEST_F(TailGrep, LongRecordsFromTheDaemonMatchWithoutCrashing) {
  TempDir config;
  std::ofstream(config.path() / "receiver.toml").flush();
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--config", (config.path() / "receiver.toml").string(), "--listen",
                      "127.0.0.1:" + std::to_string(port), "--log-dir", logs_.path().string()});
  const std::string one_datagram = alternating_ab(40 * 1024) + "c";  // 40 KB: one datagram
  const std::string fragmented = alternating_ab(120 * 1024) + "c";   // 120 KB: ncfrag slices
  const std::string no_match = alternating_ab(40 * 1024);
  UdpSender sender("127.0.0.1", port);
  sender.send(header(1) + one_datagram + "\n");
  send_fragmented(sender, 2, fragmented, 30 * 1024);
  sender.send(header(3) + no_match + "\n");
  sender.send(header(4) + "the last, short one\n");
  auto log = logs_.path() / "127.0.0.1" / "console.log";
  ASSERT_TRUE(eventually([&] { return read_file(log).find("the last, short one") != std::string::npos; }))
      << rx.stderr_text();
  EXPECT_EQ(rx.stop(SIGTERM), 0);

  auto matches = tail_json("(a|b)*c");
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0]["seq"], 1);
  EXPECT_EQ(matches[0]["text"], one_datagram);
  EXPECT_EQ(matches[1]["seq"], 2);
  EXPECT_EQ(matches[1]["text"], fragmented) << "reassembled whole before it was written";
  auto anchored = tail_json("^(ab)*$");
  ASSERT_EQ(anchored.size(), 1u);
  EXPECT_EQ(anchored[0]["seq"], 3);
  auto greedy = tail_json(".*short.*");
  ASSERT_EQ(greedy.size(), 1u);
  EXPECT_EQ(greedy[0]["seq"], 4);
}

TEST_F(TailGrep, ABadPatternIsUsageErrorNamingIt) {
  for (const std::string pattern : {"(a", "a{2,1}", "(?=lookahead)"}) {
    std::string out;
    EXPECT_EQ(run_command({kReceiverBinary, "tail", "--log-dir", logs_.path().string(), "--grep", pattern}, out), 2)
        << pattern;
    EXPECT_NE(out.find("lastgasp-receiver tail: --grep '" + pattern + "': "), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace lastgasp::test
