// One kernel record as it came off the wire, and the time it arrived.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lastgasp::wire {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

// "Now", as the caller's clock saw it. The state machines never read a clock
// themselves, so tests drive them with an injected time.
struct Instant {
  MonoTime mono;
  WallTime wall;
};

// The keys the receiver writes on its own lines and records (sequencer, decoder,
// daemon, file sink), and reads back (resume takes src=, hosts and tail the rest).
// A sender's field with one of these names is kept as "sender.<key>", so that
// nothing a host sends can pass for the receiver's own word.
inline constexpr std::string_view kReceiverKeys[] = {"boot", "boot_id", "cause", "file", "kind", "late", "lost",
                                                      "missing_bytes", "prev_seq", "sender", "sha256", "src",
                                                      "trigger_seq"};
inline constexpr std::string_view kSenderKeyPrefix = "sender.";

constexpr bool is_receiver_key(std::string_view key) {
  for (std::string_view reserved : kReceiverKeys)
    if (key == reserved) return true;
  return false;
}

struct Field {
  std::string key;
  std::string value;  // escaped: no control bytes, no spaces (written as \x20)
  bool operator==(const Field&) const = default;
};

struct Record {
  std::optional<std::uint16_t> prio;     // facility << 3 | level
  std::optional<std::uint64_t> seq;      // extended format only
  std::optional<std::uint64_t> ts_usec;  // kernel time since boot
  std::string text;                      // escaped: never a control byte or tab
  std::vector<Field> fields;             // dictionary, userdata, sysdata, header extras
  std::optional<std::uint32_t> msgid;    // sysdata msgid: counts messages the target sent
  std::uint32_t missing_bytes = 0;       // ncfrag bytes that never arrived
  Instant arrived{};                     // first datagram of the record

  std::optional<unsigned> facility() const { return prio ? std::optional<unsigned>(*prio >> 3) : std::nullopt; }
  std::optional<unsigned> level() const { return prio ? std::optional<unsigned>(*prio & 7) : std::nullopt; }
  // The value of the first field named KEY, if there is one.
  std::optional<std::string_view> field(std::string_view key) const {
    for (const Field& f : fields)
      if (f.key == key) return f.value;
    return std::nullopt;
  }
};

}  // namespace lastgasp::wire
