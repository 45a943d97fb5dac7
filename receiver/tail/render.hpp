// How `tail` shows an entry: a short line (coloured by level, a stable colour
// per host, the receiver's own lines standing out) or one JSON object.
#pragma once

#include <string>
#include <string_view>

#include "entry.hpp"

namespace lastgasp::tail {

struct RenderOptions {
  bool json = false;
  bool color = false;
  bool show_host = false;  // more than one host is shown
};

// ENTRY as one line, '\n' included.
std::string render(const Entry& entry, const RenderOptions& options);

// TEXT with anything a terminal would act on (C0 and C1 controls, DEL,
// invalid UTF-8) written as \xNN, so no sender can drive the reader's terminal.
std::string terminal_safe(std::string_view text);

}  // namespace lastgasp::tail
