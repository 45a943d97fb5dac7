// One receive thread's work, with no socket, file or thread: a new host's
// datagrams wait, in order and bounded, until the writer says where its
// streams had got to; what goes past the bound is told in a gap line; the
// shared admission holds for hosts the shard has never met.
#include <gtest/gtest.h>

#include "daemon/shard.hpp"
#include "netconsole_record.hpp"

namespace lastgasp::daemon {
namespace {

using namespace std::chrono_literals;

const wire::Instant kStart{wire::MonoTime{} + 1h, wire::WallTime{} + 24h * 20000};

hosts::SenderAddress sender(const std::string& address, std::uint16_t port = 6665) {
  auto a = hosts::SenderAddress::from_text(address);
  a->port = port;
  return *a;
}

// An info record whose timestamp follows its sequence number.
std::string info(std::uint64_t seq, const std::string& text) { return test::ext(6, seq, seq * 1000, text); }

class ShardTest : public ::testing::Test {
 protected:
  ShardTest() { config_.reorder_window = 0ms; }

  Shard& shard() {
    if (!shard_)
      shard_ = std::make_unique<Shard>(config_, hosts::KnownHosts(hosts::KnownHosts::hash_all(known_)), admission_, 1);
    return *shard_;
  }
  // The texts of the records (and our own lines) in the outbox, in order.
  std::vector<std::string> written() {
    std::vector<std::string> texts;
    for (ToWriter& m : shard().take_outbox())
      if (auto* w = std::get_if<WriteEvent>(&m.what)) texts.push_back(w->event.record.text);
    return texts;
  }

  config::ReceiverConfig config_;
  std::vector<std::string> known_;
  hosts::Admission admission_{host_limits(config::ReceiverConfig{})};
  std::unique_ptr<Shard> shard_;
};

TEST_F(ShardTest, ANewHostWaitsForTheWriterThenGoesOnWhereItsLogLeftOff) {
  shard().take(sender("10.0.0.1"), info(41, "forty-one"), kStart);
  shard().take(sender("10.0.0.1"), info(42, "forty-two"), kStart);
  EXPECT_TRUE(shard().urgent()) << "a host to load does not wait for the tick";
  auto out = shard().take_outbox();
  ASSERT_EQ(out.size(), 1u) << "nothing is written before the writer answers";
  auto* load = std::get_if<LoadHost>(&out[0].what);
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load->name, "10.0.0.1");
  EXPECT_EQ(shard().loading(), 1u);
  shard().loaded({out[0].host, {{std::nullopt, stream::Position{40, 40'000}}}});
  EXPECT_EQ(shard().loading(), 0u);
  EXPECT_EQ(written(), (std::vector<std::string>{"forty-one", "forty-two"}))
      << "resumed after seq 40: no reboot, no gap, in the order they came";
}

TEST_F(ShardTest, PastTheWaitingBoundTheOldestGoAndAGapLineSaysHowMany) {
  const std::string filler(1000, 'x');
  for (std::uint64_t seq = 1; seq <= 400; ++seq) shard().take(sender("10.0.0.2"), info(seq, filler), kStart);
  auto out = shard().take_outbox();
  ASSERT_EQ(out.size(), 1u);
  shard().loaded({out[0].host, {}});
  auto texts = written();
  ASSERT_FALSE(texts.empty());
  ASSERT_TRUE(texts[0].starts_with("lastgasp: lost ")) << texts[0];
  std::size_t lost = std::stoul(texts[0].substr(15));
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(texts.size() - 1 + lost, 400u) << "every datagram is written or counted";
  EXPECT_LT(texts.size() - 1, 400u);
  EXPECT_EQ(shard().figures().waiting_dropped, lost);
  EXPECT_EQ(shard().figures().waiting_bytes, 0u);
}

TEST_F(ShardTest, StrangersComeAtTheSharedRateButKnownHostsAlways) {
  config_.new_hosts_burst = 2;
  config_.new_hosts_per_second = 1;
  admission_.configure(host_limits(config_));
  known_ = {"10.0.0.9"};
  for (int n = 1; n <= 3; ++n) shard().take(sender("10.0.0." + std::to_string(n)), info(1, "hello"), kStart);
  shard().take(sender("10.0.0.9"), info(1, "known"), kStart);
  std::vector<std::string> loads;
  for (ToWriter& m : shard().take_outbox())
    if (auto* l = std::get_if<LoadHost>(&m.what)) loads.push_back(l->name);
  EXPECT_EQ(loads, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.9"}));
  EXPECT_EQ(shard().figures().new_hosts_limited, 1u);
}

TEST_F(ShardTest, ASilentHostIsLetGoAndTheWriterToldAfterItsLastLines) {
  config_.stream_idle = 5s;
  shard().take(sender("10.0.0.3"), info(1, "only"), kStart);
  auto out = shard().take_outbox();
  shard().loaded({out[0].host, {}});
  EXPECT_EQ(written(), (std::vector<std::string>{"only"}));
  shard().advance(kStart.mono + 4s);
  EXPECT_TRUE(shard().outbox_empty());
  shard().advance(kStart.mono + 6s);
  out = shard().take_outbox();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ForgetHost>(out[0].what));
  EXPECT_EQ(shard().figures().hosts, 0u);
}

}  // namespace
}  // namespace lastgasp::daemon
