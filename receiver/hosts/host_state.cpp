#include "host_state.hpp"

#include <nlohmann/json.hpp>

#include "wire/escape.hpp"

namespace lastgasp::hosts {

namespace {

constexpr std::size_t kMaxSelfName = 64;  // HOST_NAME_MAX: a longer host= is not a kernel's

// What a host calls itself is the sender's word: kept short, and every byte that is not
// printable ASCII written as \xNN, so it is valid UTF-8 wherever it goes (JSON, a terminal).
std::string self_name_from(std::string_view sent) {
  std::string name;
  for (char ch : sent.substr(0, kMaxSelfName)) {
    auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f) name += ch;
    else wire::append_hex(name, c);
  }
  return name;
}

std::int64_t micros(wire::WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

void HostState::count(const stream::Event& event) {
  dirty = true;
  last_seen_us = micros(event.record.arrived.wall);
  if (first_seen_us == 0) first_seen_us = last_seen_us;
  switch (event.type) {
    case stream::EventType::record:
      ++records;
      bytes += event.record.text.size();
      for (const wire::Field& f : event.record.fields)
        if (f.key == "host" && f.value != self_name) self_name = self_name_from(f.value);
      break;
    case stream::EventType::gap:
      ++gaps;
      for (const wire::Field& f : event.record.fields)
        if (f.key == "lost") lost += std::stoull(f.value);
      break;
    case stream::EventType::reboot:
      ++boots;
      last_event = "reboot";
      break;
    case stream::EventType::pstore:
      ++pstore_records;
      if (event.incident == stream::IncidentKind::panic) ++panics;  // a past boot's: the host is up again
      break;
    case stream::EventType::incident:
      if (event.incident == stream::IncidentKind::panic) {
        ++panics;
        last_event = "panic";
      } else {
        ++incidents;
        last_event = "incident";
      }
      break;
  }
}

std::string HostState::to_json() const {
  nlohmann::json j = {{"address", address},     {"self_name", self_name}, {"first_seen_us", first_seen_us},
                      {"last_seen_us", last_seen_us}, {"boots", boots},       {"records", records},
                      {"bytes", bytes},           {"pstore_records", pstore_records},
                      {"gaps", gaps},           {"lost", lost},           {"panics", panics},
                      {"incidents", incidents}, {"last_event", last_event},
                      {"ports_over_cap", ports_over_cap}, {"incidents_over_rate", incidents_over_rate},
                      {"lines_lost", lines_lost}};
  // Every string in it is ours or self_name_from()'s; replace still keeps a slip from throwing.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<HostState> HostState::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  HostState s;
  try {
    s.address = j.value("address", "");
    s.self_name = j.value("self_name", "");
    s.first_seen_us = j.value("first_seen_us", std::int64_t{0});
    s.last_seen_us = j.value("last_seen_us", std::int64_t{0});
    s.boots = j.value("boots", std::uint64_t{1});
    s.records = j.value("records", std::uint64_t{0});
    s.bytes = j.value("bytes", std::uint64_t{0});
    s.pstore_records = j.value("pstore_records", std::uint64_t{0});
    s.gaps = j.value("gaps", std::uint64_t{0});
    s.lost = j.value("lost", std::uint64_t{0});
    s.panics = j.value("panics", std::uint64_t{0});
    s.incidents = j.value("incidents", std::uint64_t{0});
    s.last_event = j.value("last_event", "");
    s.ports_over_cap = j.value("ports_over_cap", std::uint64_t{0});
    s.incidents_over_rate = j.value("incidents_over_rate", std::uint64_t{0});
    s.lines_lost = j.value("lines_lost", std::uint64_t{0});
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a hand-edited file with wrong types: start afresh rather than fail
  }
  return s;
}

}  // namespace lastgasp::hosts
