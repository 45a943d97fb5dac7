// pstore records uploaded by `lastgasp-setup collect`, filed under the host
// that sent them as LOG_DIR/<host>/pstore/<boot_id>/<name>, and keyed by
// sha256 in LOG_DIR/<host>/pstore/index so that collecting again never
// stores a record twice. A record is acknowledged only once it is fsynced.
#pragma once

#include <string>

#include "log_directory.hpp"

namespace lastgasp::sinks {

struct PstoreRecord {
  std::string host_name;  // what the sender calls itself (information only)
  std::string boot_id;    // the boot that collected it: the record is from the boot before
  std::string name;       // the pstore file name: [A-Za-z0-9._-]
  std::string sha256;     // lowercase hex, already checked against `bytes`
  std::string bytes;
};

enum class StoreResult { stored, duplicate, failed };

class PstoreStore {
 public:
  explicit PstoreStore(const LogDirectory& dir) : dir_(dir) {}
  // Files RECORD under HOST; on `stored`, PATH is where, relative to the host's directory.
  StoreResult store(const std::string& host, const PstoreRecord& record, std::string& path) const;

 private:
  bool known(const std::string& host, const std::string& sha256) const;
  const LogDirectory& dir_;
};

// Whether a pstore record holds a kernel panic, and its first panic line.
std::string find_panic_line(const std::string& bytes);

}  // namespace lastgasp::sinks
