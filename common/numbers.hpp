// A number that is the whole of TEXT: no sign, no spaces, nothing after it.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace lastgasp {

template <class T>
std::optional<T> parse_number(std::string_view text, int base = 10) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace lastgasp
