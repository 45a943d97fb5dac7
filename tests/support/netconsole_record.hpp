// A datagram as netconsole's extended format sends it, for tests to send.
#pragma once

#include <cstdint>
#include <string>

namespace lastgasp::test {

// "<prio>,<seq>,<ts>,-;<text>\n" and TRAILER (dictionary lines: " KEY=VALUE\n").
inline std::string ext(unsigned prio, std::uint64_t seq, std::uint64_t ts, const std::string& text,
                       const std::string& trailer = "") {
  return std::to_string(prio) + "," + std::to_string(seq) + "," + std::to_string(ts) + ",-;" + text + "\n" + trailer;
}

}  // namespace lastgasp::test
