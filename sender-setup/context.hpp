// What every subcommand is handed: the Sysroot (--root, --dry-run) and where
// its words go. With --json, stdout carries only the JSON report.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "sysroot/sysroot.hpp"

namespace lastgasp::setup {

// "set" -> "set", "remove" -> "removed", "restore" -> "restored".
inline std::string past_tense(const std::string& verb) {
  if (verb == "set") return verb;
  return verb.ends_with('e') ? verb + "d" : verb + "ed";
}

struct Context {
  Sysroot& root;
  bool json;
  std::ostream& out;
  std::ostream& err;

  void say(const std::string& line) const {
    if (!json) out << line << '\n';
  }
  void warn(const std::string& line) const { err << "warning: " << line << '\n'; }
  // A change said as done, or with --dry-run as what would be done ("set X" or
  // "would set X"), so that a dry run never reads as if it had changed anything.
  void say_change(const std::string& verb, const std::string& rest) const {
    say((root.dry_run() ? "would " + verb : past_tense(verb)) + " " + rest);
  }
  // After COMMAND failed with ERROR: undoes its changes since the last commit,
  // and says whether that left the system as it was, or what remains.
  void fail_and_roll_back(const std::string& command, const std::string& error) const {
    RollbackResult undo = root.rollback();
    err << "lastgasp-setup " << command << ": " << error << '\n';
    // Bad input fails before any change: the one line above says it all.
    if (undo.undone == 0 && undo.failures.empty()) return;
    if (undo.failures.empty()) {
      err << "lastgasp-setup: the changes made before the failure were undone; nothing was changed\n";
      return;
    }
    for (const std::string& failure : undo.failures) err << "lastgasp-setup: " << failure << '\n';
    err << "lastgasp-setup: the changes above remain; put them back by hand\n";
  }
  // The --json report. Bytes that are not UTF-8 (a hostname, a kernel value) are
  // replaced rather than thrown on: the work is done, and must not be undone.
  void print_json(const nlohmann::json& report) const {
    out << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
};

}  // namespace lastgasp::setup
