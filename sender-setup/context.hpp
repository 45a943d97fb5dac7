// What every subcommand is handed: the Sysroot (--root, --dry-run) and where
// its words go. With --json, stdout carries only the JSON report.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

struct Context {
  Sysroot& root;
  bool json;
  std::ostream& out;
  std::ostream& err;

  void say(const std::string& line) const {
    if (!json) out << line << '\n';
  }
  void warn(const std::string& line) const { err << "warning: " << line << '\n'; }
  // The --json report. Bytes that are not UTF-8 (a hostname, a kernel value) are
  // replaced rather than thrown on: the work is done, and must not be undone.
  void print_json(const nlohmann::json& report) const {
    out << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
};

}  // namespace lastgasp::setup
