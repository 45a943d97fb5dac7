#include "incident.hpp"

#include <array>
#include <utility>

namespace lastgasp::stream {

namespace {

// Checked in order: the lockup texts also begin with "BUG:".
constexpr std::array<std::pair<std::string_view, IncidentKind>, 12> kTriggers = {{
    {"Kernel panic - not syncing", IncidentKind::panic},
    {"watchdog: BUG: soft lockup", IncidentKind::lockup},
    {"BUG: soft lockup", IncidentKind::lockup},
    {"watchdog: Watchdog detected hard LOCKUP", IncidentKind::lockup},
    {"NMI watchdog: Watchdog detected hard LOCKUP", IncidentKind::lockup},
    {"Watchdog detected hard LOCKUP", IncidentKind::lockup},
    {"INFO: task ", IncidentKind::hung},  // "INFO: task foo:12 blocked for more than 120 seconds."
    {"Oops:", IncidentKind::oops},
    {"BUG:", IncidentKind::oops},
    {"kernel BUG at", IncidentKind::oops},
    {"general protection fault", IncidentKind::oops},
    {"WARNING: CPU:", IncidentKind::warning},
}};

constexpr unsigned kKernelFacility = 0;

}  // namespace

const char* incident_name(IncidentKind kind) {
  switch (kind) {
    case IncidentKind::warning: return "warning";
    case IncidentKind::hung: return "hung";
    case IncidentKind::lockup: return "lockup";
    case IncidentKind::oops: return "oops";
    case IncidentKind::panic: return "panic";
  }
  return "incident";
}

std::optional<IncidentKind> classify_trigger(const wire::Record& record) {
  // Extended records carry a facility; legacy lines carry one only with a <prio> prefix.
  if (auto facility = record.facility(); facility && *facility != kKernelFacility) return std::nullopt;
  std::string_view text = record.text;
  for (auto [prefix, kind] : kTriggers) {
    if (!text.starts_with(prefix)) continue;
    if (kind == IncidentKind::hung && text.find(" blocked for more than ") == std::string_view::npos) continue;
    return kind;
  }
  return std::nullopt;
}

namespace {

std::string sentence_prefix(IncidentKind kind) {
  return kind == IncidentKind::panic ? "lastgasp: panic " : std::string("lastgasp: incident kind=") + incident_name(kind) + " ";
}

}  // namespace

std::string incident_sentence(IncidentKind kind, std::string_view trigger) {
  return sentence_prefix(kind).append(trigger);
}

std::string_view trigger_of(IncidentKind kind, std::string_view sentence) {
  std::string prefix = sentence_prefix(kind);
  return sentence.starts_with(prefix) ? sentence.substr(prefix.size()) : sentence;
}

}  // namespace lastgasp::stream
