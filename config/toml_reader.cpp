#include "toml_reader.hpp"

#include <charconv>

namespace lastgasp::config {

namespace {

std::string where(const std::filesystem::path& file, const toml::source_position& pos) {
  return file.string() + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

}  // namespace

toml::table parse_toml_file(const std::filesystem::path& file) {
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw ConfigError(where(file, e.source().begin) + ": " + std::string(e.description()));
  }
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  std::string_view suffix(end, text.data() + text.size() - end);
  unsigned shift = 0;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K" || suffix == "KiB" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "GiB") shift = 30;
  else return std::nullopt;
  if (shift && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

TableReader::TableReader(const toml::table& table, std::filesystem::path file, std::string prefix)
    : table_(table), file_(std::move(file)), prefix_(std::move(prefix)) {}

const toml::node* TableReader::lookup(std::string_view key) {
  known_.emplace(key);
  return table_.get(key);
}

void TableReader::fail_at(const toml::source_region& region, std::string_view key,
                          std::string_view what) const {
  std::string full = prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  throw ConfigError(where(file_, region.begin) + ": key '" + full + "': " + std::string(what));
}

void TableReader::fail(std::string_view key, std::string_view what) const {
  const toml::node* node = table_.get(key);
  fail_at(node ? node->source() : table_.source(), key, what);
}

std::optional<bool> TableReader::boolean(std::string_view key) {
  const toml::node* node = lookup(key);
  if (!node) return std::nullopt;
  if (auto v = node->value<bool>(); v && node->is_boolean()) return *v;
  fail_at(node->source(), key, "expected true or false");
}

std::optional<std::string> TableReader::string(std::string_view key) {
  const toml::node* node = lookup(key);
  if (!node) return std::nullopt;
  if (!node->is_string()) fail_at(node->source(), key, "expected a string");
  return *node->value<std::string>();
}

std::optional<std::int64_t> TableReader::integer(std::string_view key, std::int64_t min,
                                                 std::int64_t max) {
  const toml::node* node = lookup(key);
  if (!node) return std::nullopt;
  if (!node->is_integer()) fail_at(node->source(), key, "expected an integer");
  std::int64_t v = *node->value<std::int64_t>();
  if (v < min || v > max)
    fail_at(node->source(), key,
            "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v;
}

std::optional<std::uint64_t> TableReader::size(std::string_view key, std::uint64_t min,
                                               std::uint64_t max) {
  const toml::node* node = lookup(key);
  if (!node) return std::nullopt;
  std::optional<std::uint64_t> bytes;
  if (node->is_integer() && *node->value<std::int64_t>() >= 0)
    bytes = static_cast<std::uint64_t>(*node->value<std::int64_t>());
  else if (node->is_string())
    bytes = parse_size(*node->value<std::string>());
  if (!bytes) fail_at(node->source(), key, "expected a size in bytes, such as 8388608 or \"8M\"");
  if (*bytes < min || *bytes > max)
    fail_at(node->source(), key,
            "must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes");
  return bytes;
}

std::optional<std::chrono::milliseconds> TableReader::millis(std::string_view key,
                                                             std::int64_t min, std::int64_t max) {
  auto v = integer(key, min, max);
  if (!v) return std::nullopt;
  return std::chrono::milliseconds(*v);
}

std::optional<std::vector<std::string>> TableReader::strings(std::string_view key) {
  const toml::node* node = lookup(key);
  if (!node) return std::nullopt;
  const toml::array* array = node->as_array();
  if (!array) fail_at(node->source(), key, "expected an array of strings");
  std::vector<std::string> out;
  for (const toml::node& item : *array) {
    if (!item.is_string()) fail_at(item.source(), key, "expected an array of strings");
    out.push_back(*item.value<std::string>());
  }
  return out;
}

const toml::table* TableReader::table(std::string_view key) {
  const toml::node* node = lookup(key);
  if (!node) return nullptr;
  if (!node->is_table()) fail_at(node->source(), key, "expected a table");
  return node->as_table();
}

std::vector<const toml::table*> TableReader::tables(std::string_view key) {
  const toml::node* node = lookup(key);
  if (!node) return {};
  if (node->is_table()) return {node->as_table()};
  const toml::array* array = node->as_array();
  if (!array || (!array->empty() && !array->is_array_of_tables()))
    fail_at(node->source(), key, "expected [[" + std::string(key) + "]] tables");
  std::vector<const toml::table*> out;
  for (const toml::node& item : *array) out.push_back(item.as_table());
  return out;
}

void TableReader::reject_unknown_keys() const {
  for (const auto& [key, node] : table_) {
    if (!known_.contains(key.str())) fail_at(key.source(), key.str(), "unknown key");
  }
}

}  // namespace lastgasp::config
