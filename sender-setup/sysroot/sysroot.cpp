#include "sysroot.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace lastgasp::setup {

namespace fs = std::filesystem;

std::string trim(std::string_view text) {
  const char* space = " \t\r\n";
  auto first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return "";
  auto last = text.find_last_not_of(space);
  return std::string(text.substr(first, last - first + 1));
}

namespace {

[[noreturn]] void fail(std::string_view verb, const fs::path& path, int error_number) {
  throw SysrootError("cannot " + std::string(verb) + " " + path.string() + ": " +
                         std::strerror(error_number),
                     error_number);
}

// One open and one write(2), so that a kernel attribute sees the whole value at
// once and its errno comes back. Returns 0 or the errno.
int write_whole(const fs::path& target, std::string_view content) {
  int fd = ::open(target.c_str(), O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ssize_t written = ::write(fd, content.data(), content.size());
  int error = written < 0 ? errno : 0;
  ::close(fd);
  return error;
}

std::string command_line(const std::vector<std::string>& command) {
  std::string line;
  for (const std::string& word : command) line += (line.empty() ? "" : " ") + word;
  return line;
}

// Runs COMMAND (an absolute path and its arguments, no shell) and waits for it.
// Returns "" on exit status 0, else why it failed.
std::string run_command(const std::vector<std::string>& command) {
  std::vector<std::string> words = command;
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int error = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ))
    return std::string("cannot run ") + argv[0] + ": " + std::strerror(error);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return "'" + command_line(command) + "' failed" +
         (WIFEXITED(status) ? " with exit status " + std::to_string(WEXITSTATUS(status)) : std::string(" (killed)"));
}

}  // namespace

Sysroot::Sysroot(fs::path root, bool dry_run, std::ostream& dry_run_out)
    : root_(root.empty() ? fs::path("/") : std::move(root)),
      live_(root_ == "/"),
      dry_run_(dry_run),
      dry_run_out_(dry_run_out) {}

fs::path Sysroot::host_path(std::string_view system_path) const {
  fs::path path(system_path);
  return live_ ? path : root_ / path.relative_path();
}

std::optional<std::string> Sysroot::read(std::string_view path) const {
  std::ifstream in(host_path(path), std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return content.str();
}

std::optional<std::string> Sysroot::read_trimmed(std::string_view path) const {
  auto content = read(path);
  if (!content) return std::nullopt;
  return trim(*content);
}

bool Sysroot::exists(std::string_view path) const {
  std::error_code ec;
  return fs::exists(fs::symlink_status(host_path(path), ec));
}

bool Sysroot::is_dir(std::string_view path) const {
  std::error_code ec;
  return fs::is_directory(host_path(path), ec);
}

std::vector<std::string> Sysroot::list_dir(std::string_view path) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(host_path(path), ec))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void Sysroot::record(std::string action, std::string_view path, std::string_view value) {
  journal_.push_back({std::move(action), std::string(path), std::string(value)});
}

bool Sysroot::announce_dry_run(std::string_view what, std::string_view path, std::string_view value) {
  if (!dry_run_) return false;
  dry_run_out_ << "would " << what << " " << path;
  if (!value.empty()) {
    std::string shown = trim(value);
    dry_run_out_ << (shown.find('\n') == std::string::npos ? ": " + shown : ":\n" + shown);
  }
  dry_run_out_ << "\n";
  return true;
}

void Sysroot::write(std::string_view path, std::string_view value) {
  record("write", path, value);
  if (announce_dry_run("write", path, value)) return;
  std::optional<std::string> previous = read(path);
  fs::path target = host_path(path);
  std::string line(value);
  if (!line.ends_with('\n')) line += '\n';
  if (int error = write_whole(target, line)) fail("write '" + trim(value) + "' to", target, error);
  undo_.push_back({Undo::kRestoreContent, std::string(path), previous});
}

void Sysroot::create_parents(std::string_view path) {
  fs::path parent = fs::path(path).parent_path();
  std::vector<fs::path> missing;
  for (fs::path p = parent; !p.empty() && p != p.root_path() && !exists(p.string()); p = p.parent_path())
    missing.push_back(p);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) make_dir(it->string());
}

void Sysroot::write_file(std::string_view path, std::string_view content) {
  if (!dry_run_) create_parents(path);
  record("write", path, content);
  if (announce_dry_run("write", path, content)) return;
  std::optional<std::string> previous = read(path);
  // Through a temporary file and rename(2): a crash never leaves half a config file.
  fs::path target = host_path(path);
  fs::path temporary = target.string() + ".lastgasp-new";
  if (int error = write_whole(temporary, content)) fail("write", temporary, error);
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    fail("replace", target, error);
  }
  undo_.push_back({Undo::kRestoreContent, std::string(path), previous});
}

void Sysroot::make_dir(std::string_view path) {
  record("mkdir", path, "");
  if (announce_dry_run("create directory", path, "")) return;
  fs::path target = host_path(path);
  if (::mkdir(target.c_str(), 0755) != 0) fail("create directory", target, errno);
  undo_.push_back({Undo::kRemoveDir, std::string(path), std::nullopt});
  if (!live_ && after_mkdir) after_mkdir(target);
}

void Sysroot::remove_dir(std::string_view path) {
  record("rmdir", path, "");
  if (announce_dry_run("remove directory", path, "")) return;
  fs::path target = host_path(path);
  if (live_) {
    if (::rmdir(target.c_str()) != 0) fail("remove directory", target, errno);
  } else {
    // A fake configfs item holds ordinary files, which rmdir(2) would refuse.
    std::error_code ec;
    fs::remove_all(target, ec);
    if (ec) fail("remove directory", target, ec.value());
  }
  undo_.push_back({Undo::kRecreateDir, std::string(path), std::nullopt});
}

void Sysroot::remove_file(std::string_view path) {
  record("remove", path, "");
  if (announce_dry_run("remove", path, "")) return;
  std::optional<std::string> previous = read(path);
  fs::path target = host_path(path);
  std::error_code ec;
  fs::path link_target = fs::is_symlink(fs::symlink_status(target, ec)) ? fs::read_symlink(target, ec) : fs::path();
  if (::unlink(target.c_str()) != 0) fail("remove", target, errno);
  if (!link_target.empty()) undo_.push_back({Undo::kRestoreSymlink, std::string(path), link_target.string()});
  else undo_.push_back({Undo::kRestoreContent, std::string(path), previous});
}

void Sysroot::make_symlink(std::string_view link_target, std::string_view path) {
  if (!dry_run_) create_parents(path);
  record("symlink", path, link_target);
  if (announce_dry_run("link", path, link_target)) return;
  fs::path target = host_path(path);
  if (::symlink(std::string(link_target).c_str(), target.c_str()) != 0) fail("create link", target, errno);
  undo_.push_back({Undo::kRemoveLink, std::string(path), std::nullopt});
}

void Sysroot::run(const std::vector<std::string>& command, const std::vector<std::string>& undo) {
  std::vector<std::string> arguments(command.begin() + 1, command.end());
  record("run", command.front(), command_line(arguments));
  if (announce_dry_run("run", command_line(command), "")) return;
  if (!live_)
    throw SysrootError("cannot run " + command.front() + " under --root " + root_.string() +
                           ": it would change the running system, not the tree; run with --dry-run to see the "
                           "command",
                       EPERM);
  if (std::string failure = run_command(command); !failure.empty()) throw SysrootError(failure, 0);
  undo_.push_back({Undo::kRunCommand, command.front(), std::nullopt, undo});
}

void Sysroot::commit() { undo_.clear(); }

RollbackResult Sysroot::rollback() {
  RollbackResult result;
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    fs::path target = host_path(it->path);
    std::error_code ec;
    switch (it->kind) {
      case Undo::kRestoreContent:
        if (!it->previous) fs::remove(target, ec);
        else if (int error = write_whole(target, *it->previous)) ec.assign(error, std::generic_category());
        break;
      case Undo::kRestoreSymlink:
        fs::create_symlink(*it->previous, target, ec);
        break;
      case Undo::kRemoveDir:
        // Live, rmdir(2) is how configfs drops an item.
        if (live_ && ::rmdir(target.c_str()) != 0) ec.assign(errno, std::generic_category());
        if (!live_) fs::remove_all(target, ec);
        break;
      case Undo::kRemoveLink:
        fs::remove(target, ec);
        break;
      case Undo::kRecreateDir:
        fs::create_directory(target, ec);
        break;
      case Undo::kRunCommand:
        if (std::string failure = run_command(it->command); !failure.empty()) {
          result.failures.push_back(failure);
          continue;
        }
        break;
    }
    if (ec) result.failures.push_back("cannot undo the change to " + target.string() + ": " + ec.message());
    else ++result.undone;
  }
  undo_.clear();
  return result;
}

}  // namespace lastgasp::setup
