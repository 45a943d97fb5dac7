// `lastgasp-setup collect`: ship the previous boot's pstore records to the
// receiver over TCP (docs/protocol.md, PSTORE), and the unit that runs it at boot.
#pragma once

#include "state.hpp"
#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

inline constexpr const char* kCollectUnitFile = "/etc/systemd/system/lastgasp-collect.service";
inline constexpr const char* kCollectUnitWantsLink =
    "/etc/systemd/system/multi-user.target.wants/lastgasp-collect.service";
inline constexpr const char* kCollectArchiveDir = "/var/lib/lastgasp/pstore";

// Installs and enables lastgasp-collect.service (after network-online.target),
// recorded in STATE so that `remove` takes it away again.
void install_collect_unit(Sysroot& root, State& state);

}  // namespace lastgasp::setup
