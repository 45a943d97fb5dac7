// Reads a packet capture in the format of tests/data/capture-*.txt: one
// datagram per line, "TIME SOURCE PYTHON-BYTES-REPR".
#pragma once

#include <string>
#include <vector>

namespace lastgasp::test {

struct CapturedPacket {
  double time = 0;
  std::string source;
  std::string payload;
};

std::vector<CapturedPacket> load_capture(const std::string& path);

// The directory of the test data, set by CMake.
std::string data_path(const std::string& name);

}  // namespace lastgasp::test
