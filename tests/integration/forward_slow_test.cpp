// A destination slower than the stream, over TCP and over RELP, to a real
// rsyslogd on loopback held still with SIGSTOP while a burst comes: what it does
// not take goes to the spool on disk, none of it is dropped, and once rsyslog
// runs again every record arrives, in order, a copy only with the same identity.
// (The spill used to wait for the destination's thread, which sat in a RELP
// window or a TCP write to the stopped reader: memory filled and dropped.)
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "forward/forwarder.hpp"
#include "kernel_event.hpp"
#include "receiver_process.hpp"
#include "rsyslog.hpp"

namespace lastgasp::forward {
namespace {

using namespace std::chrono_literals;
using test::kernel_record;
using test::Rsyslog;

struct Protocol {
  const char* name;
  config::Forward::Protocol protocol;
  const char* module;
  const char* input;
};

std::string text_of(std::uint64_t seq) { return "record " + std::to_string(seq) + " of web-1"; }

// seq="N" in the structured data: the record's identity with the host and boot.
std::uint64_t seq_of(const test::SyslogLine& line) {
  auto at = line.sd.find("seq=\"");
  return at == std::string::npos ? 0 : std::stoull(line.sd.substr(at + 5));
}

class ForwardSlow : public testing::TestWithParam<Protocol> {
 protected:
  config::Forward to(std::uint16_t port) const {
    config::Forward s;
    s.name = "central";
    s.protocol = GetParam().protocol;
    s.host = "127.0.0.1";
    s.port = port;
    s.queue_memory = 256u << 10;  // a burst of about 11 MB is many times that, and more than the
                                  // socket buffers of a TCP connection hold
    return s;
  }
};

TEST_P(ForwardSlow, ABurstADestinationDoesNotTakeGoesToTheSpoolAndAllArrives) {
  constexpr std::uint64_t kFirst = 100, kRecords = 60000;
  test::TempDir dir;
  auto port = test::free_port();
  Rsyslog rsyslog(dir.path() / "rsyslog", port, GetParam().module, GetParam().input);
  Forwarder f(to(port), dir.path() / "spool");
  auto write = [&](std::uint64_t seq) { f.write("web-1", 2, std::nullopt, kernel_record(seq, text_of(seq))); };
  for (std::uint64_t seq = 1; seq <= kFirst; ++seq) write(seq);  // the session is up, then rsyslog stops
  ASSERT_TRUE(test::eventually([&] { return rsyslog.lines().size() >= kFirst; }, 20s)) << rsyslog.lines().size();
  rsyslog.pause();
  // About 4 MB/s for 3 s: far less than the disk takes, in less than the RELP timeout (10 s).
  for (std::uint64_t seq = kFirst + 1; seq <= kRecords; seq += 200) {
    for (std::uint64_t s = seq; s < seq + 200 && s <= kRecords; ++s) write(s);
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(test::eventually([&] { return f.counters().spooled_bytes > 0; }, 5s))
      << f.counters().spool.spilled << " spilled, " << f.counters().spool.dropped << " dropped, "
      << f.counters().queued_bytes << " bytes queued, " << f.counters().sent << " sent";
  rsyslog.resume();
  ASSERT_TRUE(test::eventually([&] { return f.counters().sent >= kRecords; }, 60s))
      << f.counters().sent << " sent, " << rsyslog.lines().size() << " lines";
  ForwardCounters c = f.counters();
  EXPECT_EQ(c.spool.dropped, 0u);
  EXPECT_EQ(c.spool.dropped_priority, 0u);
  EXPECT_GT(c.spool.spilled, 0u);

  // Every record, in order of first arrival; a copy only whole, with the same identity.
  ASSERT_TRUE(test::eventually([&] { return rsyslog.lines().size() >= kRecords; }, 20s)) << rsyslog.lines().size();
  std::map<std::uint64_t, std::string> first;
  std::uint64_t next = 1;
  for (const auto& line : rsyslog.lines()) {
    std::uint64_t seq = seq_of(line);
    if (auto seen = first.find(seq); seen != first.end()) {
      EXPECT_EQ(seen->second, line.sd + line.msg);
      continue;
    }
    ASSERT_EQ(seq, next) << "out of order or missing";
    EXPECT_EQ(line.msg, text_of(seq));
    next = seq + 1;
    first.emplace(seq, line.sd + line.msg);
  }
  EXPECT_EQ(first.size(), kRecords);
}

INSTANTIATE_TEST_SUITE_P(Protocols, ForwardSlow,
                         testing::Values(Protocol{"tcp", config::Forward::Protocol::tcp, "module(load=\"imtcp\")", "imtcp"},
                                         Protocol{"relp", config::Forward::Protocol::relp, "module(load=\"imrelp\")",
                                                  "imrelp"}),
                         [](const testing::TestParamInfo<Protocol>& p) { return p.param.name; });

}  // namespace
}  // namespace lastgasp::forward
