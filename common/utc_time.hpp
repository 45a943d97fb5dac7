// Seconds since the epoch as UTC text, in a strftime FORMAT.
#pragma once

#include <cstdint>
#include <string>

namespace lastgasp {

std::string format_utc(std::int64_t seconds, const char* format);

}  // namespace lastgasp
