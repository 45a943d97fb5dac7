#include "disk_worker.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <utility>

#include "thread_name.hpp"

namespace lastgasp::sinks {

namespace {

constexpr auto kNoticeInterval = std::chrono::seconds(10);

// 1536 B, 1.5 KiB ... as an operator reads them.
std::string readable(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  for (; value >= 1024 && unit + 1 < std::size(units); ++unit) value /= 1024;
  char text[32];
  std::snprintf(text, sizeof text, unit ? "%.1f %s" : "%.0f %s", value, units[unit]);
  return text;
}

}  // namespace

DiskWorker::DiskWorker(const LogDirectory& dir, const DiskQuotas& quotas)
    : dir_(dir),
      enforcer_(dir, [this](const std::string& host, const DiskFile& file, const char* bound) {
        on_removed(host, file, bound);
      }),
      quotas_(quotas),
      thread_([this] { run(); }) {}

DiskWorker::~DiskWorker() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void DiskWorker::configure(const DiskQuotas& quotas) {
  std::lock_guard lock(mutex_);
  quotas_ = quotas;
}

void DiskWorker::request(DiskRequest request) {
  {
    std::lock_guard lock(mutex_);
    if (!pending_) {
      pending_ = std::move(request);
    } else {
      for (const auto& [host, bytes] : request.growth.bytes) pending_->growth.bytes[host] += bytes;
      pending_->growth.rotated.merge(request.growth.rotated);
      pending_->growth.total += request.growth.total;
      pending_->open_incidents = std::move(request.open_incidents);  // the newest view
      pending_->recount |= request.recount;
    }
  }
  wake_.notify_one();
}

void DiskWorker::run() {
  name_this_thread("lg-disk");
  for (;;) {
    DiskRequest request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || pending_; });
      if (stop_) return;
      request = std::move(*pending_);
      pending_.reset();
      if (quotas_) enforcer_.set_quotas(*std::exchange(quotas_, std::nullopt));
    }
    pass(std::move(request));
  }
}

void DiskWorker::pass(DiskRequest request) {
  std::set<std::string> to_compress = std::move(request.growth.rotated);
  to_compress.merge(compress_again_);
  if (request.recount || !counted_) {
    if (!counted_)  // rotated logs left uncompressed by an earlier run
      for (std::string& host : dir_.host_names()) to_compress.insert(std::move(host));
    enforcer_.rescan_all();
    counted_ = true;
  } else {
    for (const auto& [host, bytes] : request.growth.bytes) enforcer_.grew(host, bytes);
  }
  compress(to_compress);
  std::vector<std::string> rotate_away;
  enforcer_.enforce(request.open_incidents, rotate_away);
  std::uint64_t used = enforcer_.used(), free = enforcer_.free_bytes();
  std::lock_guard lock(mutex_);
  status_.used = used;
  status_.free = free;
  status_.quota = enforcer_.counters();
  for (std::string& host : rotate_away)
    if (std::find(rotate_away_.begin(), rotate_away_.end(), host) == rotate_away_.end())
      rotate_away_.push_back(std::move(host));
}

// Compression needs room for the compressed copy: on a full disk it fails, the quota makes
// room, and the host is tried again at the next pass.
void DiskWorker::compress(const std::set<std::string>& hosts) {
  std::uint64_t compressed = 0, failures = 0;
  for (const std::string& host : hosts) {
    unsigned failed = 0;
    if (unsigned done = compress_rotated_logs(dir_, host, failed)) {
      compressed += done;
      enforcer_.recount(host);
    }
    if (failed) compress_again_.insert(host);
    failures += failed;
  }
  std::lock_guard lock(mutex_);
  status_.compressed += compressed;
  status_.compress_failures += failures;
}

void DiskWorker::on_removed(const std::string& host, const DiskFile& file, const char* bound) {
  std::lock_guard lock(mutex_);
  ++unsaid_files_;
  unsaid_bytes_ += file.bytes;
  last_removed_ = host + "/" + file.path + " (" + bound + ")";
}

std::vector<std::string> DiskWorker::take_rotate_away() {
  std::lock_guard lock(mutex_);
  return std::exchange(rotate_away_, {});
}

std::string DiskWorker::take_notice() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (unsaid_files_ == 0 || now - last_notice_ < kNoticeInterval) return {};
  last_notice_ = now;
  std::string text = "disk quota: removed " + std::to_string(unsaid_files_) + " files (" + readable(unsaid_bytes_) +
                     "), the last " + last_removed_;
  unsaid_files_ = unsaid_bytes_ = 0;
  return text;
}

std::string DiskWorker::summary() const {
  std::lock_guard lock(mutex_);
  const DiskStatus& s = status_;
  return "disk: " + readable(s.used) + " used, " + readable(s.free) + " free, " +
         std::to_string(s.quota.files_removed) + " files removed for quotas (" + readable(s.quota.bytes_removed) +
         "), " + std::to_string(s.quota.logs_rotated_away) + " current logs rotated away, " +
         std::to_string(s.compressed) + " rotated logs compressed (" + std::to_string(s.compress_failures) +
         " to retry)";
}

}  // namespace lastgasp::sinks
