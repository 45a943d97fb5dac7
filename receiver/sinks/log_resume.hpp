// Where each stream of a host had got to, read back from the end of its log,
// so that a restarted daemon carries on without a false gap or reboot line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "log_directory.hpp"
#include "stream/sequencer.hpp"

namespace lastgasp::sinks {

struct ResumePoint {
  std::optional<std::uint16_t> port;  // from src=, present when the host had several streams
  stream::Position position;
};

std::vector<ResumePoint> read_resume_points(const LogDirectory& dir, const std::string& host);

}  // namespace lastgasp::sinks
