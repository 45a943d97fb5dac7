// SHA-256 as the pstore upload protocol writes it: lowercase hex.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lastgasp {

// Lowercase hex of LENGTH bytes.
std::string to_hex(const unsigned char* bytes, std::size_t length);

// Throws std::runtime_error when libcrypto fails (out of memory).
std::string sha256_hex(std::string_view bytes);

}  // namespace lastgasp
