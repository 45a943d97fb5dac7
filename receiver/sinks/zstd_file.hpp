// Rotated logs are kept compressed with zstd (console.log.N.zst): kernel logs
// shrink about tenfold, so a host keeps that much more history in its quota.
// Both directions stream through fixed buffers, so memory stays bounded
// whatever the size of the file.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace lastgasp::sinks {

inline constexpr std::string_view kZstdSuffix = ".zst";

// Compresses all of FROM into TO (both open descriptors). False with errno, or EIO for zstd's own errors.
bool zstd_compress(int from, int to);

// Calls CHUNK with the decompressed bytes of FD, in order, until it returns false.
// False with ERROR set when FD cannot be read or is no complete zstd stream.
bool zstd_decompress(int fd, const std::function<bool(std::string_view)>& chunk, std::string& error);

}  // namespace lastgasp::sinks
