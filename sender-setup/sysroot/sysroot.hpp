// The --root path mapping. Every file the tool reads or writes goes through a
// Sysroot, which prefixes the root, honours --dry-run, keeps a journal of the
// operations in order (tests assert on it), and remembers how to undo each change
// so that a failed command leaves the system as it found it.
#pragma once

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace lastgasp::setup {

struct Operation {
  std::string action;  // "write", "mkdir", "rmdir", "remove", "symlink", "run"
  std::string path;    // the system path, without the root prefix (the program, for "run")
  std::string value;   // what was written (the symlink's target, the program's arguments)
  bool operator==(const Operation&) const = default;
};

// What Sysroot::rollback() did: how many changes it undid, and a sentence for
// each one it could not undo (that change remains).
struct RollbackResult {
  std::size_t undone = 0;
  std::vector<std::string> failures;
};

class Sysroot {
 public:
  // ROOT "/" (or empty) is the live system. DRY_RUN_OUT receives "would ..." lines.
  Sysroot(std::filesystem::path root, bool dry_run, std::ostream& dry_run_out);
  Sysroot(const Sysroot&) = delete;
  Sysroot& operator=(const Sysroot&) = delete;

  bool live() const { return live_; }
  bool dry_run() const { return dry_run_; }
  std::filesystem::path host_path(std::string_view system_path) const;

  std::optional<std::string> read(std::string_view path) const;
  // The file's content without surrounding whitespace; nullopt when unreadable.
  std::optional<std::string> read_trimmed(std::string_view path) const;
  bool exists(std::string_view path) const;
  bool is_dir(std::string_view path) const;
  std::vector<std::string> list_dir(std::string_view path) const;  // sorted names

  // Writes VALUE (a kernel attribute: one write(2), so the kernel's errno reaches
  // the caller as a SysrootError). Creates the file in a fake tree.
  void write(std::string_view path, std::string_view value);
  // Replaces a whole configuration file atomically, creating its parent directories.
  void write_file(std::string_view path, std::string_view content);
  void make_dir(std::string_view path);
  // Removes a directory. Live, this is rmdir(2), which is how configfs drops an item.
  void remove_dir(std::string_view path);
  void remove_file(std::string_view path);
  void make_symlink(std::string_view target, std::string_view path);
  // Runs a program that changes the system for us (grubby edits every boot
  // entry), given UNDO, the command that takes the change back. Only on the
  // live system: under --root, whose boot entries it would not edit, this
  // throws (with --dry-run it is only announced, like every change).
  void run(const std::vector<std::string>& command, const std::vector<std::string>& undo);

  // Ends the transaction: the changes so far stay.
  void commit();
  // Undoes every change since the last commit, newest first. Best effort: the
  // changes it could not undo are returned as sentences.
  RollbackResult rollback();

  const std::vector<Operation>& journal() const { return journal_; }
  // How many changes were made (or, with --dry-run, would have been made).
  std::size_t change_count() const { return journal_.size(); }

  // A fake tree cannot create configfs attributes on mkdir as the kernel does;
  // tests set this to play the kernel's part.
  std::function<void(const std::filesystem::path& host_dir)> after_mkdir;

 private:
  struct Undo {
    enum Kind { kRestoreContent, kRestoreSymlink, kRemoveDir, kRemoveLink, kRecreateDir, kRunCommand } kind;
    std::string path;
    std::optional<std::string> previous;
    std::vector<std::string> command = {};  // kRunCommand
  };
  void record(std::string action, std::string_view path, std::string_view value);
  bool announce_dry_run(std::string_view what, std::string_view path, std::string_view value);
  void create_parents(std::string_view path);

  std::filesystem::path root_;
  bool live_;
  bool dry_run_;
  std::ostream& dry_run_out_;
  std::vector<Operation> journal_;
  std::vector<Undo> undo_;
};

class SysrootError : public std::runtime_error {
 public:
  SysrootError(const std::string& what, int error_number)
      : std::runtime_error(what), error_number_(error_number) {}
  int error_number() const { return error_number_; }

 private:
  int error_number_;
};

std::string trim(std::string_view text);

}  // namespace lastgasp::setup
