#include "capture.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lastgasp::test {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw std::runtime_error("bad hex digit in capture");
}

// Decodes Python's repr() of a bytes object: b'...' or b"...".
std::string decode_bytes_repr(const std::string& repr) {
  if (repr.size() < 3 || repr[0] != 'b') throw std::runtime_error("not a bytes repr: " + repr);
  char quote = repr[1];
  std::string out;
  for (std::size_t i = 2; i < repr.size(); ++i) {
    char c = repr[i];
    if (c == quote) return out;
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = repr.at(++i);
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'x': out += static_cast<char>(hex_value(repr.at(i + 1)) * 16 + hex_value(repr.at(i + 2))); i += 2; break;
      default: out += e; break;  // \\ \' \"
    }
  }
  throw std::runtime_error("unterminated bytes repr");
}

}  // namespace

std::vector<CapturedPacket> load_capture(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<CapturedPacket> packets;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    CapturedPacket p;
    fields >> p.time >> p.source;
    std::string rest;
    std::getline(fields >> std::ws, rest);
    p.payload = decode_bytes_repr(rest);
    packets.push_back(std::move(p));
  }
  return packets;
}

std::string data_path(const std::string& name) { return std::string(LASTGASP_TEST_DATA) + "/" + name; }

}  // namespace lastgasp::test
