#include "syslog_message.hpp"

#include <charconv>
#include <utility>

namespace lastgasp::forward {

namespace {

constexpr unsigned kKern = 0;
constexpr unsigned kMaxFacility = 23;  // RFC 5424: PRI is at most 191
constexpr std::size_t kMaxHostName = 255;

enum Level : unsigned { kEmerg = 0, kCrit = 2, kWarning = 4, kNotice = 5 };

void append_number(std::string& out, std::uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

unsigned incident_level(stream::IncidentKind kind) {
  switch (kind) {
    case stream::IncidentKind::panic: return kEmerg;
    case stream::IncidentKind::oops:
    case stream::IncidentKind::lockup: return kCrit;
    case stream::IncidentKind::hung:
    case stream::IncidentKind::warning: return kWarning;
  }
  return kWarning;
}

const char* event_name(stream::EventType type) {
  switch (type) {
    case stream::EventType::record: return "record";
    case stream::EventType::gap: return "gap";
    case stream::EventType::reboot: return "reboot";
    case stream::EventType::incident: return "incident";
    case stream::EventType::pstore: return "pstore";
  }
  return "record";
}

// Our own lines have no PRI of their own: the level their event deserves.
unsigned own_level(const stream::Event& event) {
  switch (event.type) {
    case stream::EventType::gap: return kWarning;
    case stream::EventType::reboot: return kNotice;
    case stream::EventType::incident:
    case stream::EventType::pstore: return incident_level(event.incident);
    case stream::EventType::record: break;
  }
  return kNotice;
}

std::string_view msgid(const stream::Event& event) {
  switch (event.type) {
    case stream::EventType::record: return "-";
    case stream::EventType::incident: return event.incident == stream::IncidentKind::panic ? "panic" : "incident";
    default: return event_name(event.type);
  }
}

// The directory name is the receiver's own and printable already; this keeps a
// message valid whatever it becomes.
void append_host(std::string& out, std::string_view host) {
  if (host.empty()) return void(out += '-');
  for (char c : host.substr(0, kMaxHostName)) out += (c > ' ' && c < 127) ? c : '_';
}

void append_param(std::string& out, std::string_view name, std::string_view value) {
  out += ' ';
  out += name;
  out += "=\"";
  append_param_value(out, value);
  out += '"';
}

// The element's own PARAM-NAMEs: a field of the same name would make seq or boot ambiguous.
bool is_ours(std::string_view key) {
  for (std::string_view name : {"seq", "ktime_usec", "boot", "src", "event", "facility", "field"})
    if (key == name) return true;
  return false;
}

void append_param(std::string& out, std::string_view name, std::uint64_t value) {
  append_param(out, name, std::to_string(value));
}

}  // namespace

bool is_sd_name(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  for (char c : text)
    if (c <= ' ' || c >= 127 || c == '=' || c == ']' || c == '"') return false;
  return true;
}

void append_param_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
}

void append_octet_counted(std::string& out, std::string_view message) {
  append_number(out, message.size());
  out += ' ';
  out += message;
}

void SyslogFormatter::append(std::string& out, const stream::Event& event, const Origin& origin) {
  const wire::Record& r = event.record;
  const bool own = event.type != stream::EventType::record;
  unsigned facility = kKern, level = own ? own_level(event) : kNotice;
  std::optional<unsigned> unsendable_facility;
  if (!own && r.prio) {
    facility = *r.facility();
    level = *r.level();
    if (facility > kMaxFacility) unsendable_facility = std::exchange(facility, kKern);
  }
  out += '<';
  append_number(out, facility * 8 + level);
  out += ">1 ";
  time_.append(out, r.arrived.wall);
  out += ' ';
  append_host(out, origin.host);
  out += own ? " lastgasp - " : " kernel - ";
  out += msgid(event);
  out += " [";
  out += kSdId;
  if (r.seq) append_param(out, "seq", *r.seq);
  if (r.ts_usec) append_param(out, "ktime_usec", *r.ts_usec);
  append_param(out, "boot", origin.boot);
  if (origin.src) append_param(out, "src", *origin.src);
  append_param(out, "event", event_name(event.type));
  if (unsendable_facility) append_param(out, "facility", *unsendable_facility);
  for (const wire::Field& f : r.fields) {
    if (is_sd_name(f.key) && !is_ours(f.key)) append_param(out, f.key, f.value);
    else append_param(out, "field", f.key + "=" + f.value);
  }
  out += "] ";
  out += r.text;
}

}  // namespace lastgasp::forward
