// What a [[hook]] is told of: one event of one host, as the writer learned of it. Made on the
// writer's thread, run on the main one; nothing here is escaped yet (hook_rules.hpp does that).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "receiver_config.hpp"
#include "wire/record.hpp"

namespace lastgasp::hooks {

struct HookEvent {
  config::HookOn kind = config::HookOn::panic;
  std::string host;                      // the host's directory name
  std::optional<std::uint64_t> boot;     // the receiver's count of the host's boots
  std::optional<std::uint64_t> seq;      // panic, incident: the trigger's; reboot: the new boot's first
  std::string incident_kind;             // panic, incident: panic, oops, lockup, hung or warning
  std::filesystem::path incident_file;   // panic, incident; pstore: the panic record's copy, if any
  std::string trigger_line;              // panic, incident, pstore: the line that made it (a sender's)
  std::filesystem::path log;             // the host's console.log
  std::filesystem::path pstore_file;     // pstore: the stored record
  wire::WallTime time{};                 // when the receiver got it (silent: noticed it)
};

}  // namespace lastgasp::hooks
