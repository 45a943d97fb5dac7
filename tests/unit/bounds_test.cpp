// What a hostile sender can make the file sink and the host table hold, on
// real files in a scratch directory: incident files per host and their size,
// descriptors for logs and incidents together, streams per host, new hosts.
#include <dirent.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <cstring>
#include <sys/stat.h>
#include <thread>

#include "hosts/host_table.hpp"
#include "receiver_process.hpp"
#include "sinks/file_sink.hpp"
#include "sinks/log_line.hpp"
#include "sinks/open_worker.hpp"

namespace lastgasp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::read_file;
using test::read_lines;

const wire::MonoTime kStart = wire::MonoTime{} + 1h;

stream::Event record(std::uint64_t seq, std::string text) {
  stream::Event e;
  e.record.prio = 0;
  e.record.seq = seq;
  e.record.ts_usec = seq * 1000;
  e.record.text = std::move(text);
  e.record.arrived.wall = std::chrono::system_clock::now();
  return e;
}

stream::Event own(stream::EventType type, stream::IncidentKind kind = stream::IncidentKind::warning) {
  stream::Event e;
  e.type = type;
  e.incident = kind;
  e.record.text = std::string("lastgasp: ") + (type == stream::EventType::reboot ? "reboot" : "incident");
  e.record.arrived.wall = std::chrono::system_clock::now();
  return e;
}

std::size_t files_in(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

std::size_t open_descriptors() { return files_in("/proc/self/fd"); }

// A new host's log is opened by the sink's opener thread, and each flush makes incident files for
// a bounded time: flushes until all that is done, on a machine however busy.
bool flush_until_done(sinks::FileSink& sink) {
  sink.flush();
  for (auto deadline = std::chrono::steady_clock::now() + 10s; sink.behind();) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
    sink.flush();
  }
  return true;
}

class FileSinkBounds : public ::testing::Test {
 protected:
  fs::path incidents(const std::string& host) const { return tmp_.path() / host / "incidents"; }

  test::TempDir tmp_;
  sinks::LogDirectory dir_{tmp_.path()};
};

// A fleet's state saves must not cost a file creation and a deletion each: the two names swap
// between two inodes for good, and the old content is kept beside.
TEST_F(FileSinkBounds, StateSavesSwapBetweenTwoFilesAndNeverMakeANewOne) {
  std::set<ino_t> inodes;
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(dir_.replace("host", "state.json", "{\"save\": " + std::to_string(i) + "}\n")) << std::strerror(errno);
    struct stat st {};
    ASSERT_EQ(::stat((tmp_.path() / "host" / "state.json").c_str(), &st), 0);
    inodes.insert(st.st_ino);
  }
  EXPECT_EQ(inodes.size(), 2u);
  EXPECT_EQ(read_file(tmp_.path() / "host" / "state.json"), "{\"save\": 10}\n");
  EXPECT_EQ(read_file(tmp_.path() / "host" / "state.json.tmp"), "{\"save\": 9}\n") << "the previous save";
}

TEST_F(FileSinkBounds, ASenderThatRebootsAndPanicsInALoopGetsItsBurstOfIncidentFilesThenNone) {
  sinks::FileSinkSettings settings;
  settings.incident_burst = 5;
  settings.incident_refill = 60s;
  sinks::FileSink sink(dir_, settings);
  sinks::HostFiles host("spoofed");
  wire::MonoTime now = kStart;
  for (std::uint64_t i = 1; i <= 100; ++i, now += 10ms) {
    sink.write(host, own(stream::EventType::reboot), std::nullopt, now);
    sink.write(host, record(i, "Kernel panic - not syncing: " + std::to_string(i)), std::nullopt, now);
    sink.write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, now);
  }
  ASSERT_TRUE(flush_until_done(sink));
  EXPECT_EQ(files_in(incidents("spoofed")), 5u);
  EXPECT_EQ(sink.counters().incidents_suppressed, 95u);
  EXPECT_EQ(read_lines(tmp_.path() / "spoofed" / "console.log").size(), 300u) << "every line is in console.log";

  // One more file once the refill interval has passed.
  sink.write(host, own(stream::EventType::reboot), std::nullopt, now + 61s);
  sink.write(host, record(1, "Kernel panic - not syncing: later"), std::nullopt, now + 61s);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, now + 61s);
  sink.forget(host);
  EXPECT_EQ(files_in(incidents("spoofed")), 6u);
}

TEST_F(FileSinkBounds, AnOopsThatTurnsIntoAPanicGetsItsPanicFileEvenPastTheRate) {
  sinks::FileSinkSettings settings;
  settings.incident_burst = 1;
  sinks::FileSink sink(dir_, settings);
  sinks::HostFiles host("web");
  sink.write(host, record(1, "Oops: 0000 [#1] SMP"), std::nullopt, kStart);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::oops), std::nullopt, kStart);
  sink.write(host, record(2, "Kernel panic - not syncing: Fatal exception"), std::nullopt, kStart + 1ms);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, kStart + 1ms);
  sink.write(host, own(stream::EventType::reboot), std::nullopt, kStart + 2ms);
  sink.write(host, record(1, "Kernel panic - not syncing: again"), std::nullopt, kStart + 3ms);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, kStart + 3ms);
  sink.forget(host);
  EXPECT_EQ(files_in(incidents("web")), 2u) << "the oops and its panic; the third is past the rate";
  EXPECT_EQ(sink.counters().incidents_suppressed, 1u);
}

TEST_F(FileSinkBounds, IncidentFilesAreMadeAtTheFlushWithEveryLineEvenOnesClosedBefore) {
  sinks::FileSink sink(dir_, {});
  sinks::HostFiles host("web");
  sink.write(host, record(1, "before"), std::nullopt, kStart);
  EXPECT_TRUE(sink.behind()) << "a new host's log is opened off the writer";
  ASSERT_TRUE(flush_until_done(sink));
  sink.write(host, record(2, "Oops: 0000 [#1] SMP"), std::nullopt, kStart);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::oops), std::nullopt, kStart);
  EXPECT_EQ(read_lines(tmp_.path() / "web" / "console.log").size(), 3u) << "an open log is written at the trigger";
  EXPECT_EQ(files_in(incidents("web")), 0u) << "the incident file waits for the flush";
  sink.write(host, record(3, "after the oops"), std::nullopt, kStart + 1ms);
  sink.write(host, own(stream::EventType::reboot), std::nullopt, kStart + 2ms);  // closes it, still unmade
  sink.write(host, record(1, "Kernel panic - not syncing: next boot"), std::nullopt, kStart + 3ms);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, kStart + 3ms);
  sink.write(host, record(2, "after the panic"), std::nullopt, kStart + 4ms);
  ASSERT_TRUE(flush_until_done(sink));
  ASSERT_EQ(files_in(incidents("web")), 2u);
  std::map<std::string, std::vector<std::string>> texts;  // by kind, from the file's name
  for (const auto& e : fs::directory_iterator(incidents("web"))) {
    std::string name = e.path().filename();
    for (const auto& l : read_lines(e.path()))
      texts[name.ends_with("-oops.log") ? "oops" : "panic"].emplace_back(sinks::split_log_line(l)->text);
  }
  EXPECT_EQ(texts["oops"], (std::vector<std::string>{"before", "Oops: 0000 [#1] SMP", "lastgasp: incident",
                                                     "after the oops", "lastgasp: reboot"}))
      << "closed by the reboot before its file was made, it still has every line";
  ASSERT_EQ(texts["panic"].size(), 8u) << "the log's tail before it, the panic, and the line after";
  EXPECT_EQ(texts["panic"].back(), "after the panic");
  sink.forget(host);
}

TEST_F(FileSinkBounds, ANewHostsTriggersAndRebootsWaitForItsLogInOrder) {
  sinks::FileSink sink(dir_, {});
  sinks::HostFiles host("new");
  sink.write(host, record(1, "Kernel panic - not syncing: first words"), std::nullopt, kStart);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, kStart);
  sink.write(host, record(2, "after the panic"), std::nullopt, kStart);
  sink.write(host, own(stream::EventType::reboot), std::nullopt, kStart + 1ms);
  sink.write(host, record(1, "the next boot"), std::nullopt, kStart + 2ms);
  EXPECT_TRUE(sink.behind()) << "its lines wait for the opener";
  ASSERT_TRUE(flush_until_done(sink));
  EXPECT_EQ(read_lines(tmp_.path() / "new" / "console.log").size(), 5u);
  ASSERT_EQ(files_in(incidents("new")), 1u);
  auto lines = read_lines(fs::directory_iterator(incidents("new"))->path());
  ASSERT_EQ(lines.size(), 4u) << "the panic to the reboot, not the next boot";
  EXPECT_EQ(sinks::split_log_line(lines[2])->text, "after the panic");
  sink.forget(host);
}

TEST_F(FileSinkBounds, AnIncidentFileStopsAtItsSizeAndSaysWhereTheRestIs) {
  sinks::FileSinkSettings settings;
  settings.incident_max_size = 64 << 10;
  sinks::FileSink sink(dir_, settings);
  sinks::HostFiles host("web");
  sink.write(host, record(1, "Kernel panic - not syncing: x"), std::nullopt, kStart);
  sink.write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, kStart);
  const std::string filler(100, 'y');
  for (std::uint64_t seq = 2; seq < 2000; ++seq) sink.write(host, record(seq, filler), std::nullopt, kStart);
  sink.forget(host);
  ASSERT_EQ(files_in(incidents("web")), 1u);
  fs::path file = fs::directory_iterator(incidents("web"))->path();
  EXPECT_LE(fs::file_size(file), (64u << 10) + 200);
  auto lines = read_lines(file);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("incident_max_size reached"), std::string::npos) << lines.back();
  EXPECT_EQ(read_lines(tmp_.path() / "web" / "console.log").size(), 2000u);
  EXPECT_GT(sink.counters().incident_bytes_cut, 0u);
}

TEST_F(FileSinkBounds, LogAndIncidentFilesShareOneDescriptorBudget) {
  sinks::FileSinkSettings settings;
  settings.max_open_files = 16;
  auto sink = std::make_unique<sinks::FileSink>(dir_, settings);
  std::vector<std::unique_ptr<sinks::HostFiles>> hosts;
  const std::size_t before = open_descriptors();
  std::size_t most = 0;
  for (int i = 0; i < 40; ++i) {
    auto& host = *hosts.emplace_back(std::make_unique<sinks::HostFiles>("host" + std::to_string(i)));
    sink->write(host, record(1, "Kernel panic - not syncing: " + std::to_string(i)), std::nullopt, kStart);
    sink->write(host, own(stream::EventType::incident, stream::IncidentKind::panic), std::nullopt, kStart);
    ASSERT_TRUE(flush_until_done(*sink));  // what the opener has opened and not handed over is bounded apart
    most = std::max(most, open_descriptors() - before);
  }
  // Every host writes again: logs and incidents reopen by name as needed.
  for (int i = 0; i < 40; ++i) {
    sink->write(*hosts[i], record(2, "after " + std::to_string(i)), std::nullopt, kStart + 1s);
    sink->flush();
    most = std::max(most, open_descriptors() - before);
  }
  // Beyond the budget, each for a moment: a directory while the writer opens a file in it, and
  // the sync worker's file and directory.
  EXPECT_LE(most, 16u + 3) << "the budget, and what is open on its way in or out of it";
  for (auto& host : hosts) sink->forget(*host);
  sink.reset();
  EXPECT_EQ(open_descriptors(), before);
  for (int i = 0; i < 40; ++i) {
    std::string name = "host" + std::to_string(i);
    ASSERT_EQ(files_in(incidents(name)), 1u) << name;
    std::string text = read_file(fs::directory_iterator(incidents(name))->path());
    EXPECT_NE(text.find("Kernel panic - not syncing: " + std::to_string(i)), std::string::npos) << name;
    EXPECT_NE(text.find("after " + std::to_string(i)), std::string::npos) << name << ": the line after reopening";
  }
}

// A thousand new hosts at once must not make the opener hold a thousand descriptors: it stops at
// kMaxUntaken until the writer takes them, and then goes on, in the order asked.
TEST_F(FileSinkBounds, TheOpenerHoldsAtMostItsBoundOfUntakenDescriptors) {
  constexpr std::uint64_t kHosts = sinks::OpenWorker::kMaxUntaken * 3;
  sinks::OpenWorker opener(dir_);
  for (std::uint64_t i = 0; i < kHosts; ++i) opener.open({i, "host" + std::to_string(i), "console.log"});
  std::vector<std::uint64_t> tickets;
  for (auto deadline = std::chrono::steady_clock::now() + 20s; tickets.size() < kHosts;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << tickets.size() << " opened";
    std::this_thread::sleep_for(20ms);  // time for it to run into its bound
    std::vector<sinks::OpenWorker::Opened> opened = opener.take();
    EXPECT_LE(opened.size(), sinks::OpenWorker::kMaxUntaken);
    for (const auto& o : opened) {
      EXPECT_GE(o.fd, 0) << std::strerror(o.error);
      ::close(o.fd);
      tickets.push_back(o.ticket);
    }
  }
  for (std::uint64_t i = 0; i < kHosts; ++i) ASSERT_EQ(tickets[i], i);
}

class HostTableBounds : public ::testing::Test {
 protected:
  hosts::SenderAddress address(int n, std::uint16_t port = 6666) const {
    auto a = hosts::SenderAddress::from_text("10.0.0." + std::to_string(n));
    a->port = port;
    return *a;
  }

  static hosts::KnownHosts known(const std::vector<std::string>& directories) {
    return hosts::KnownHosts(hosts::KnownHosts::hash_all(directories));
  }

  wire::ReassemblyBudget global_;
};

TEST_F(HostTableBounds, PortsOfOneAddressAreCappedAndAnIdlePortLetsGoOfItsSlot) {
  hosts::HostLimits limits;
  limits.max_streams = 4;
  hosts::Admission admission(limits);
  hosts::HostTable table({}, known({}), admission, {}, global_, limits);
  auto why = hosts::HostTable::Refusal::none;
  hosts::Host* host = table.add(address(1), "10.0.0.1", kStart, why);
  ASSERT_NE(host, nullptr);
  table.loaded(*host, {});
  for (std::uint16_t port = 1; port <= 4; ++port) {
    hosts::Stream* s = table.stream(*host, port);
    ASSERT_NE(s, nullptr);
    s->last_seen = port == 1 ? kStart : kStart + 10s;
  }
  EXPECT_EQ(table.stream(*host, 5), nullptr);
  EXPECT_NE(table.stream(*host, 2), nullptr) << "a port already held is still served";
  table.drop_idle_streams(*host, kStart + 5s);
  EXPECT_EQ(host->streams.size(), 3u);
  EXPECT_NE(table.stream(*host, 5), nullptr);
}

TEST_F(HostTableBounds, NewHostsAreAdmittedAtTheirRateButKnownAndNamedOnesAlways) {
  hosts::HostLimits limits;
  limits.new_per_second = 1;
  limits.new_burst = 3;
  hosts::Admission admission(limits);
  hosts::HostTable table({{"10.0.0.8", "named"}}, known({"10.0.0.9"}), admission, {}, global_, limits);
  auto why = hosts::HostTable::Refusal::none;
  auto add = [&](int n, wire::MonoTime at) { return table.add(address(n), table.directory_for(address(n)), at, why); };
  for (int n = 1; n <= 3; ++n) EXPECT_NE(add(n, kStart), nullptr) << n;
  EXPECT_EQ(add(4, kStart), nullptr);
  EXPECT_EQ(why, hosts::HostTable::Refusal::new_host_rate);
  EXPECT_NE(add(8, kStart), nullptr) << "named in the config";
  EXPECT_NE(add(9, kStart), nullptr) << "it has a directory already";
  EXPECT_NE(add(4, kStart + 1s), nullptr) << "a token a second";
  EXPECT_EQ(add(5, kStart + 1s), nullptr);
}

}  // namespace
}  // namespace lastgasp
