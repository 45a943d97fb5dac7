// A pstore record as `lastgasp-setup collect` uploads it over TCP: what the
// protocol (net/tcp_protocol) yields and the store (sinks/pstore_store) files.
#pragma once

#include <string>

namespace lastgasp::wire {

struct PstoreRecord {
  std::string host_name;  // what the sender calls itself (information only)
  std::string boot_id;    // the boot that collected it (a checked UUID): the record is from the boot before
  std::string name;       // the pstore file name: [A-Za-z0-9._-], never starting with '.'
  std::string sha256;     // lowercase hex, already checked against `bytes`
  std::string bytes;
};

}  // namespace lastgasp::wire
