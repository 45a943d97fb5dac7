// The disk bound on the real receiver over UDP on loopback: a host that sends
// ~2 MB under a 256 KiB host_quota keeps a bounded directory with its newest
// records whole and its rotated logs in zstd, readable by zstd and by `tail`;
// and on a nearly full tmpfs the min_free floor removes rotated logs before
// the disk runs out.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <charconv>
#include <fstream>
#include <random>

#include "receiver_process.hpp"
#include "sinks/log_line.hpp"

namespace lastgasp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kRotateSize = 64 * kKiB;

// Bytes the tree at DIR takes on disk, as du counts them; links are not followed.
std::uint64_t disk_usage(const fs::path& dir) {
  std::uint64_t sum = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) == 0) sum += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return sum;
}

std::vector<fs::path> rotated_logs(const fs::path& host_dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(host_dir, ec))
    if (entry.path().filename().string().starts_with("console.log.")) found.push_back(entry.path());
  return found;
}

// N of console.log.N.zst.
unsigned generation(const fs::path& rotated) {
  std::string name = rotated.filename().string().substr(sizeof "console.log." - 1);
  unsigned n = 0;
  std::from_chars(name.data(), name.data() + name.size(), n);
  return n;
}

// The seq column of every line of TEXT, in order; every line must be a well-formed log line.
std::vector<std::uint64_t> seqs(const std::string& text) {
  std::vector<std::uint64_t> out;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    auto cols = sinks::split_log_line(std::string_view(text).substr(start, end - start));
    EXPECT_TRUE(cols) << text.substr(start, end - start);
    std::uint64_t seq = 0;
    if (cols && cols->level != "lastgasp") std::from_chars(cols->seq.data(), cols->seq.data() + cols->seq.size(), seq);
    if (seq) out.push_back(seq);
  }
  return out;
}

std::string decompressed(const fs::path& file) {
  std::string out;
  EXPECT_EQ(run_command({"/usr/bin/zstd", "-dc", "--", file.string()}, out), 0) << out;
  return out;
}

void expect_contiguous(const std::vector<std::uint64_t>& seq, std::uint64_t last) {
  ASSERT_FALSE(seq.empty());
  EXPECT_EQ(seq.back(), last);
  for (std::size_t i = 1; i < seq.size(); ++i) ASSERT_EQ(seq[i], seq[i - 1] + 1) << "at " << i;
}

// Sends records FIRST..LAST of ~100 bytes each, mostly random hex so that zstd cannot shrink them
// away, waiting every 200 records until the last one is in HOST_DIR/console.log (CHECK runs then).
template <class Check>
void send_records(UdpSender& sender, std::uint64_t first, std::uint64_t last, const fs::path& host_dir, Check check) {
  std::mt19937_64 random(first);
  for (std::uint64_t seq = first; seq <= last; ++seq) {
    char noise[64];
    std::snprintf(noise, sizeof noise, "%016llx%016llx%016llx", static_cast<unsigned long long>(random()),
                  static_cast<unsigned long long>(random()), static_cast<unsigned long long>(random()));
    sender.send("6," + std::to_string(seq) + "," + std::to_string(seq * 10) + ",-;record " + std::to_string(seq) +
                " " + noise + "\n");
    if (seq % 200 != 0 && seq != last) continue;
    // In console.log, or already rotated out of it.
    ASSERT_TRUE(eventually([&] {
      auto written = seqs(read_file(host_dir / "console.log"));
      return !written.empty() && written.back() >= seq;
    }, 5000ms)) << "record " << seq << " never reached console.log";
    check();
  }
}

fs::path write_config(const fs::path& dir, const std::string& text) {
  fs::path file = dir / "receiver.toml";
  std::ofstream(file) << text;
  return file;
}

TEST(DiskQuota, AHostStaysWithinItsQuotaWithItsNewestRecordsWholeAndItsRotatedLogsInZstd) {
  TempDir scratch;
  fs::path logs = scratch.path() / "logs", host_dir = logs / "127.0.0.1";
  const std::uint64_t quota = 256 * kKiB;
  // The slack: the current log (never removed while anything else is left) and the rotated log
  // that the next pass, at most a second or an eighth of the quota later, compresses or removes.
  const std::uint64_t bound = quota + 2 * kRotateSize;
  fs::path config = write_config(scratch.path(), "host_quota = \"256K\"\nrotate_size = \"64K\"\nrotate_keep = 100\n"
                                                 "min_free = \"0%\"\n");
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--config", config, "--listen", "127.0.0.1:" + std::to_string(port), "--log-dir", logs});
  UdpSender sender("127.0.0.1", port);

  const std::uint64_t last = 20'000;  // ~2 MB
  std::uint64_t largest = 0;
  send_records(sender, 1, last, host_dir, [&] { largest = std::max(largest, disk_usage(host_dir)); });
  ASSERT_TRUE(eventually([&] {  // the worker's last pass: every rotated log compressed, the quota met
    auto rotated = rotated_logs(host_dir);
    return disk_usage(host_dir) <= quota &&
           std::all_of(rotated.begin(), rotated.end(), [](auto& p) { return p.extension() == ".zst"; });
  }, 15000ms)) << disk_usage(host_dir);
  std::printf("host directory: at most %llu bytes while sending (bound %llu), %llu after\n",
              static_cast<unsigned long long>(largest), static_cast<unsigned long long>(bound),
              static_cast<unsigned long long>(disk_usage(host_dir)));
  EXPECT_LE(largest, bound);

  // What is kept is the newest history, whole: rotated logs oldest first, then console.log.
  auto rotated = rotated_logs(host_dir);
  ASSERT_GE(rotated.size(), 2u);
  std::sort(rotated.begin(), rotated.end(), [](auto& a, auto& b) { return generation(a) > generation(b); });
  std::vector<std::uint64_t> kept;
  for (const fs::path& file : rotated) {
    auto in_file = seqs(decompressed(file));
    kept.insert(kept.end(), in_file.begin(), in_file.end());
  }
  auto current = seqs(read_file(host_dir / "console.log"));
  expect_contiguous(current, last);
  kept.insert(kept.end(), current.begin(), current.end());
  expect_contiguous(kept, last);
  EXPECT_LT(kept.front(), current.front()) << "the rotated logs hold older records";

  // tail reads through the compressed logs.
  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "tail", "--config", config.string(), "--log-dir", logs.string(), "-n",
                         std::to_string(kept.size()), "--color", "never"},
                        out),
            0)
      << out;
  std::vector<std::uint64_t> tailed;
  for (std::uint64_t seq = kept.front(); seq <= last; ++seq)
    if (out.find("record " + std::to_string(seq) + " ") != std::string::npos) tailed.push_back(seq);
  EXPECT_EQ(tailed, kept);

  EXPECT_TRUE(eventually([&] { return rx.stderr_text().find("(host_quota)") != std::string::npos; }, 15000ms))
      << "every removal is said";
  EXPECT_EQ(rx.stop(SIGTERM), 0);
  std::string said = rx.stderr_text();
  EXPECT_EQ(said.find(" 0 files removed for quotas"), std::string::npos) << said;
  EXPECT_EQ(said.find("No space left"), std::string::npos) << said;
}

TEST(DiskQuota, TheFreeSpaceFloorRemovesRotatedLogsBeforeTheDiskFills) {
  // LOG_DIR is a 2 MiB tmpfs in a private mount namespace, half taken by a file that is not ours.
  TempDir scratch;
  fs::path logs = scratch.path() / "logs";
  fs::create_directories(logs);
  fs::path config = write_config(scratch.path(), "min_free = \"640K\"\nhost_quota = 0\nrotate_size = \"64K\"\n"
                                                 "rotate_keep = 100\n");
  std::uint16_t port = free_port();
  std::string command = "mount -t tmpfs -o size=2m none " + logs.string() + " && head -c 1048576 /dev/zero > " +
                        logs.string() + "/filler && exec " + kReceiverBinary + " --http '' --config " + config.string() +
                        " --listen 127.0.0.1:" + std::to_string(port) + " --log-dir " + logs.string();
  ReceiverProcess rx({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", command});
  fs::path inside = "/proc/" + std::to_string(rx.pid()) + "/root" + logs.string();
  auto free_bytes = [&] {
    struct statvfs fs{};
    return ::statvfs(inside.c_str(), &fs) == 0 ? std::uint64_t(fs.f_bavail) * fs.f_frsize : 0;
  };
  UdpSender sender("127.0.0.1", port);

  const std::uint64_t last = 12'000;  // ~1.2 MB: more than the disk has left
  std::uint64_t least_free = UINT64_MAX;
  send_records(sender, 1, last, inside / "127.0.0.1", [&] { least_free = std::min(least_free, free_bytes()); });
  ASSERT_TRUE(eventually([&] { return free_bytes() >= 640 * kKiB; }, 15000ms)) << free_bytes();
  std::printf("free space: at least %llu bytes while sending (floor 655360), %llu after\n",
              static_cast<unsigned long long>(least_free), static_cast<unsigned long long>(free_bytes()));
  EXPECT_GE(least_free + 2 * kRotateSize, 640 * kKiB);
  EXPECT_EQ(fs::file_size(inside / "filler"), 1048576u) << "not ours: never touched";
  expect_contiguous(seqs(read_file(inside / "127.0.0.1" / "console.log")), last);

  EXPECT_TRUE(eventually([&] { return rx.stderr_text().find("(min_free)") != std::string::npos; }, 15000ms))
      << "every removal is said";
  EXPECT_EQ(rx.stop(SIGTERM), 0);
  std::string said = rx.stderr_text();
  EXPECT_EQ(said.find("No space left"), std::string::npos) << said;
}

}  // namespace
}  // namespace lastgasp::test
