// pstore records uploaded by `lastgasp-setup collect`, filed under the host
// that sent them as LOG_DIR/<host>/pstore/<boot_id>/<name>, and keyed by
// sha256 in LOG_DIR/<host>/pstore/index so that collecting again never
// stores a record twice. A record is acknowledged only once it is fsynced,
// and never stored past the quotas: a hostile peer fills at most its share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>

#include "log_directory.hpp"
#include "wire/pstore_record.hpp"

namespace lastgasp::sinks {

struct PstoreQuota {
  std::uint64_t host_bytes = 64u << 20;  // under one LOG_DIR/<host>/pstore
  unsigned host_records = 256;
  std::uint64_t total_bytes = 1u << 30;  // under every host's pstore together
};

enum class StoreResult { stored, duplicate, over_quota, failed };

struct StoreOutcome {
  StoreResult result = StoreResult::failed;
  std::string path;       // stored: where, relative to the host's directory
  std::string quota;      // over_quota: which one ("host-bytes", "host-records" or "total")
  std::error_code error;  // failed: why
};

class PstoreStore {
 public:
  PstoreStore(const LogDirectory& dir, PstoreQuota quota) : dir_(dir), quota_(quota) {}
  void set_quota(PstoreQuota quota) { quota_ = quota; }
  // Files RECORD under HOST.
  StoreOutcome store(const std::string& host, const wire::PstoreRecord& record);
  std::uint64_t quota_refusals() const { return quota_refusals_; }

 private:
  struct Usage {
    std::uint64_t bytes = 0;
    unsigned records = 0;
  };
  bool known(const std::string& host, const std::string& sha256) const;
  std::error_code append_index(const std::string& host, const std::string& line) const;
  std::string over_quota(const std::string& host, std::uint64_t size);
  Usage& refresh_usage(const std::string& host);
  Usage scan(const std::string& host) const;

  const LogDirectory& dir_;
  PstoreQuota quota_;
  // What every host's pstore holds, counted from the disk: each host again at its
  // every upload, all of them once at the first (so files removed by hand count).
  std::unordered_map<std::string, Usage> usage_;
  std::optional<std::uint64_t> total_;
  std::uint64_t quota_refusals_ = 0;
};

// Removes the index line of the record stored at PATH ("pstore/<boot_id>/<name>"), which the
// disk quota has removed: an index names only records that are there. False when it could not.
bool drop_from_index(const LogDirectory& dir, const std::string& host, const std::string& path);

// Whether a pstore record holds a kernel panic, and its first panic line.
std::string find_panic_line(const std::string& bytes);

}  // namespace lastgasp::sinks
