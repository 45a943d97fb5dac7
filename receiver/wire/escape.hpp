// The one escaping rule for everything written into a log line.
#pragma once

#include <string>
#include <string_view>

namespace lastgasp::wire {

// Appends BYTES to OUT with control bytes (0x00-0x1f, 0x7f) written as \xNN, as
// the kernel itself writes them in extended records. Everything else, including
// the kernel's own \xNN escapes and UTF-8, is kept as sent. Returns whether a
// NUL byte was seen.
bool append_escaped(std::string& out, std::string_view bytes);

// As append_escaped, and also the backslash, for text that comes raw (legacy records, pstore
// dumps): the kernel escapes it in extended records, so there \xNN always means an escaped
// byte, and here too a literal "\x1b" in a message stays apart from a real ESC byte.
bool append_escaped_raw(std::string& out, std::string_view bytes);

// Appends C as \xNN.
void append_hex(std::string& out, unsigned char c);

// As append_escaped, and also spaces, for field values in a space-separated list.
void append_escaped_value(std::string& out, std::string_view bytes);

}  // namespace lastgasp::wire
