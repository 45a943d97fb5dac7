// Strict reading of a TOML table: every key must be known, every value of the
// right type and range, and every error names the file, line, column and key.
// Both programs' config loaders are built on this, so their errors read alike.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace lastgasp::config {

// "FILE:LINE:COL: key 'KEY': WHAT" — thrown for any bad config.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses FILE; a syntax error becomes a ConfigError naming file, line and column.
toml::table parse_toml_file(const std::filesystem::path& file);

// Parses a size such as 8388608, "8M", "512K" or "1G" (powers of 1024).
std::optional<std::uint64_t> parse_size(std::string_view text);

class TableReader {
 public:
  // `prefix` is the dotted path of this table ("" for the root), used in errors.
  TableReader(const toml::table& table, std::filesystem::path file, std::string prefix = "");

  std::optional<bool> boolean(std::string_view key);
  std::optional<std::string> string(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  // An integer number of bytes, or a string with a K/M/G suffix.
  std::optional<std::uint64_t> size(std::string_view key, std::uint64_t min, std::uint64_t max);
  std::optional<std::chrono::milliseconds> millis(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<std::vector<std::string>> strings(std::string_view key);
  // A sub-table, or nullptr when absent.
  const toml::table* table(std::string_view key);
  // An array of tables ([[key]]), or a single table ([key]) as one element;
  // empty when absent.
  std::vector<const toml::table*> tables(std::string_view key);

  // Throws for the first key that no accessor asked for.
  void reject_unknown_keys() const;

  // An error about KEY, located where KEY's value is in the file.
  [[noreturn]] void fail(std::string_view key, std::string_view what) const;

 private:
  const toml::node* lookup(std::string_view key);
  [[noreturn]] void fail_at(const toml::source_region& where, std::string_view key,
                            std::string_view what) const;

  const toml::table& table_;
  std::filesystem::path file_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace lastgasp::config
