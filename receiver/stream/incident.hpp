// Which kernel lines mean the host is in trouble. A trigger must stand at the
// start of the text of a kernel record (facility kern) or of a legacy line;
// user space writing the same words to /dev/kmsg (facility user) never counts,
// which matters because a panic re-sent after the reboot must not look new.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "wire/record.hpp"

namespace lastgasp::stream {

enum class IncidentKind { warning, hung, lockup, oops, panic };
// How many kinds there are, to size arrays indexed by kind: panic is the last.
inline constexpr std::size_t kIncidentKinds = static_cast<std::size_t>(IncidentKind::panic) + 1;

const char* incident_name(IncidentKind kind);

// How bad a kind is, so that a worse one can open a new incident.
inline int severity(IncidentKind kind) { return static_cast<int>(kind); }

std::optional<IncidentKind> classify_trigger(const wire::Record& record);

// The receiver's own line after a trigger of KIND whose text is TRIGGER: "lastgasp: panic
// TRIGGER" or "lastgasp: incident kind=KIND TRIGGER".
std::string incident_sentence(IncidentKind kind, std::string_view trigger);
// The trigger's text back from SENTENCE, an incident_sentence() of KIND.
std::string_view trigger_of(IncidentKind kind, std::string_view sentence);

}  // namespace lastgasp::stream
