#include "escape.hpp"

namespace lastgasp::wire {

void append_hex(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

template <typename Escaped>
bool append_escaping(std::string& out, std::string_view bytes, Escaped escaped) {
  bool nul = false;
  std::size_t run = 0;  // copy runs of plain bytes at once: most text has nothing to escape
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (!escaped(c)) continue;
    out.append(bytes.substr(run, i - run));
    append_hex(out, c);
    nul |= c == 0;
    run = i + 1;
  }
  out.append(bytes.substr(run));
  return nul;
}

}  // namespace

bool append_escaped(std::string& out, std::string_view bytes) { return append_escaping(out, bytes, is_control); }

bool append_escaped_raw(std::string& out, std::string_view bytes) {
  return append_escaping(out, bytes, [](unsigned char c) { return is_control(c) || c == '\\'; });
}

void append_escaped_value(std::string& out, std::string_view bytes) {
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    if (is_control(c) || c == ' ') append_hex(out, c);
    else out += ch;
  }
}

}  // namespace lastgasp::wire
