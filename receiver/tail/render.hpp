// How `tail` shows an entry, in journalctl's output modes: a short line
// (coloured by level, a stable colour per host, the receiver's own lines
// standing out), the text alone, or one JSON object.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "entry.hpp"

namespace lastgasp::tail {

// journalctl -o: short ("Nov 30 20:00:00", local time), short-iso ("2026-11-30T20:00:00+01:00"),
// short-precise and short-iso-precise (the same with microseconds), cat (the text alone), json
// (one object a line), json-pretty (the same object, indented).
enum class Output { short_, short_iso, short_precise, short_iso_precise, cat, json, json_pretty };
inline constexpr std::array<std::string_view, 7> kOutputNames = {
    "short", "short-iso", "short-precise", "short-iso-precise", "cat", "json", "json-pretty"};
std::optional<Output> parse_output(std::string_view name);
bool is_json(Output output);

// US (microseconds since the epoch) as OUTPUT's short modes write a time, in local time (TZ).
std::string format_time(std::int64_t us, Output output);

struct RenderOptions {
  Output output = Output::short_;
  bool color = false;
  bool show_host = false;  // more than one host is shown
};

// ENTRY as one line, '\n' included.
std::string render(const Entry& entry, const RenderOptions& options);

// TEXT with anything a terminal would act on (C0 and C1 controls, DEL,
// invalid UTF-8) written as \xNN, so no sender can drive the reader's terminal.
std::string terminal_safe(std::string_view text);

}  // namespace lastgasp::tail
