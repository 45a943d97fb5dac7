// The disk quota's planner on a real scratch tree: what goes first and in what
// order, what never goes, and that nothing outside LOG_DIR is touched when
// links planted inside point there.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "receiver_process.hpp"
#include "sinks/disk_quota.hpp"

namespace lastgasp {
namespace {

namespace fs = std::filesystem;
using test::read_file;

// A file of BYTES bytes, its modification time AGE seconds ago.
void make_file(const fs::path& path, std::size_t bytes, int age = 0, const std::string& fill = "x") {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << std::string(bytes - fill.size(), 'x') << fill;
  timespec times[2] = {{::time(nullptr) - age, 0}, {::time(nullptr) - age, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

class DiskQuota : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(logs_);
    outside_ = scratch_.path() / "outside";
    make_file(outside_ / "precious", 100'000);
  }
  // Runs one enforcement pass with QUOTAS and returns what went, in order, as "host/path".
  std::vector<std::string> enforce(const sinks::DiskQuotas& quotas, std::set<std::string> open_incidents = {}) {
    sinks::LogDirectory dir(logs_);
    std::vector<std::string> removed;
    sinks::QuotaEnforcer enforcer(dir, [&](const std::string& host, const sinks::DiskFile& f, const char*) {
      removed.push_back(host + "/" + f.path);
    });
    enforcer.set_quotas(quotas);
    enforcer.rescan_all();
    enforcer.enforce(open_incidents, rotate_away_);
    return removed;
  }
  std::uint64_t host_bytes(const std::string& host) {
    sinks::LogDirectory dir(logs_);
    std::uint64_t sum = 0;
    for (const auto& f : sinks::scan_host(dir.root_fd(), host)) sum += f.bytes;
    return sum;
  }

  test::TempDir scratch_;
  fs::path logs_ = scratch_.path() / "logs";
  fs::path outside_;
  std::vector<std::string> rotate_away_;
};

sinks::DiskQuotas host_quota(std::uint64_t bytes) { return {0, bytes, 0, 0}; }

TEST_F(DiskQuota, AHostOverItsQuotaLosesRotatedLogsThenClosedIncidentsThenPstoreAndItsCurrentLogLast) {
  fs::path web = logs_ / "web1";
  make_file(web / "console.log", 16384, 0);
  make_file(web / "console.log.1.zst", 16384, 100);
  make_file(web / "console.log.2", 16384, 200);  // not yet compressed
  make_file(web / "console.log.3.zst", 16384, 300);
  make_file(web / "incidents/20260101T000000Z-oops.log", 16384, 50);  // newer than the rotated logs
  make_file(web / "incidents/20250101T000000Z-panic.log", 16384, 5000);
  make_file(web / "incidents/20260102T000000Z-panic.log", 16384, 10);  // still being written
  make_file(web / "pstore/b1/dmesg-efi-1", 16384, 9000);
  make_file(web / "pstore/b2/dmesg-efi-2", 16384, 7000);
  std::ofstream(web / "pstore/index") << "aaaa pstore/b1/dmesg-efi-1\nbbbb pstore/b2/dmesg-efi-2\n";
  make_file(web / "state.json", 100);
  make_file(web / "pstore/.index.part", 100);  // a temporary, not a record

  auto removed = enforce(host_quota(1), {"web1/incidents/20260102T000000Z-panic.log"});

  std::vector<std::string> expected = {
      "web1/console.log.3.zst", "web1/console.log.2", "web1/console.log.1.zst",
      "web1/incidents/20250101T000000Z-panic.log", "web1/incidents/20260101T000000Z-oops.log",
      "web1/pstore/b1/dmesg-efi-1", "web1/pstore/b2/dmesg-efi-2"};
  EXPECT_EQ(removed, expected);
  EXPECT_EQ(rotate_away_, std::vector<std::string>{"web1"}) << "the current log goes last, and only by rotation";
  EXPECT_TRUE(fs::exists(web / "console.log"));
  EXPECT_TRUE(fs::exists(web / "incidents/20260102T000000Z-panic.log")) << "an open incident stays";
  EXPECT_TRUE(fs::exists(web / "state.json"));
  EXPECT_EQ(read_file(web / "pstore/index"), "") << "the index names only records that are there";
}

TEST_F(DiskQuota, AHostStopsLosingFilesOnceUnderItsQuota) {
  fs::path web = logs_ / "web1";
  make_file(web / "console.log", 16384);
  for (int n = 1; n <= 4; ++n) make_file(web / ("console.log." + std::to_string(n) + ".zst"), 16384, n * 10);
  std::ofstream(web / "pstore/index") << "";
  std::uint64_t before = host_bytes("web1");

  auto removed = enforce(host_quota(before - 20000));

  EXPECT_EQ(removed, (std::vector<std::string>{"web1/console.log.4.zst", "web1/console.log.3.zst"}));
  EXPECT_TRUE(rotate_away_.empty());
  EXPECT_LE(host_bytes("web1"), before - 20000);
}

TEST_F(DiskQuota, OverTheTotalTheLargestHostGivesUpFirst) {
  for (int n = 1; n <= 4; ++n) make_file(logs_ / "big" / ("console.log." + std::to_string(n) + ".zst"), 16384, n);
  make_file(logs_ / "small" / "console.log.1.zst", 16384, 99999);  // older, but its host is small
  make_file(logs_ / "big" / "console.log", 100);
  make_file(logs_ / "small" / "console.log", 100);
  std::uint64_t used = host_bytes("big") + host_bytes("small");

  auto removed = enforce({used - 30000, 0, 0, 0});

  EXPECT_EQ(removed, (std::vector<std::string>{"big/console.log.4.zst", "big/console.log.3.zst"}));
  EXPECT_TRUE(fs::exists(logs_ / "small" / "console.log.1.zst"));
}

TEST_F(DiskQuota, LinksAreNeverFollowedAndNothingOutsideIsTouched) {
  fs::path web = logs_ / "web1";
  make_file(web / "console.log", 100);
  fs::create_symlink(outside_ / "precious", web / "console.log.5.zst");  // a rotated log's name
  fs::create_symlink(outside_, web / "incidents");                       // a directory of ours
  fs::create_directories(web / "pstore");
  fs::create_symlink(outside_, web / "pstore" / "b1");
  fs::create_symlink(outside_, logs_ / "evil");  // a host directory
  make_file(outside_ / "20250101T000000Z-panic.log", 100'000, 99999);
  fs::create_hard_link(outside_ / "precious", web / "console.log.6.zst");  // a second name of a file elsewhere

  auto removed = enforce({1, 1, 0, 0});

  EXPECT_TRUE(removed.empty()) << removed.front();
  EXPECT_EQ(fs::file_size(outside_ / "precious"), 100'000u);
  EXPECT_TRUE(fs::exists(outside_ / "20250101T000000Z-panic.log"));
  EXPECT_TRUE(fs::is_symlink(web / "console.log.5.zst"));
  EXPECT_TRUE(fs::exists(web / "console.log.6.zst")) << "a hard link is not ours to remove";
  EXPECT_LT(host_bytes("web1"), 100'000u) << "nor counted: it would make us remove our own logs";
}

}  // namespace
}  // namespace lastgasp
