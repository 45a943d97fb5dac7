// What every subcommand is handed: the Sysroot (--root, --dry-run) and where
// its words go. With --json, stdout carries only the JSON report.
#pragma once

#include <ostream>
#include <string>

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
};

}  // namespace lastgasp::setup
