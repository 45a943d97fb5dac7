// What pstore looks like on this host: the backend, the mount, the stored
// records and whether systemd-pstore collects them. Shared by `pstore` and `check`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

struct PstoreStatus {
  std::string backend = "none";  // none, ramoops, efi, erst, blk
  bool mounted = false;
  std::vector<std::string> records;           // files in /sys/fs/pstore
  std::optional<unsigned> ramoops_dmesg_slots;  // how many dmesg records ramoops can hold
  bool systemd_pstore = false;
  std::string systemd_pstore_unit;
  bool systemd_pstore_enabled = false;
  std::string storage = "external";  // systemd-pstore's Storage=

  bool collects() const { return systemd_pstore && systemd_pstore_enabled && storage == "external"; }
  unsigned dmesg_records() const;
};

PstoreStatus probe_pstore(const Sysroot& root);

}  // namespace lastgasp::setup
