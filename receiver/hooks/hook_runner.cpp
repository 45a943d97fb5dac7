#include "hook_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>  // environ

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cstring>

#include "notice.hpp"
#include "wire/escape.hpp"

namespace lastgasp::hooks {

namespace asio = boost::asio;

namespace {

// What is left in the pipe once the program has exited, read at most this far: a background
// child of its own may still be writing.
constexpr std::size_t kMaxDrain = 64u << 10;
// The daemon's own dispositions a program must not inherit (ignored signals stay ignored over exec).
constexpr int kDefaultSignals[] = {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  return "ended with status " + std::to_string(status);
}

// A pipe for the program's output: the read end ours, non-blocking; the write end its stdout and stderr.
bool make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  return true;
}

// Starts PROGRAM with ARGV and ENV in a process group of its own, in /, stdin /dev/null, stdout
// and stderr to OUTPUT, no other descriptor of the daemon's. Returns 0 or an errno.
int spawn(pid_t& pid, const std::filesystem::path& program, const std::vector<std::string>& argv,
          const std::vector<std::string>& env, int output) {
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  args.push_back(nullptr);
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output, STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawn_file_actions_addchdir_np(&actions, "/");
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attr, &signals);
  for (int s : kDefaultSignals) sigaddset(&signals, s);
  posix_spawnattr_setsigdefault(&attr, &signals);
  int error = ::posix_spawn(&pid, program.c_str(), &actions, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return error;
}

// glibc 2.36's <sys/pidfd.h> declares pidfd_open without C linkage: the system call, then.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

struct HookRunner::Run {
  explicit Run(asio::io_context& io) : exit(io), output(io), timer(io) {}

  // What the program wrote is kept up to kMaxOutput; the rest is counted.
  void keep(const char* data, std::size_t n) {
    std::size_t room = kMaxOutput - std::min(kMaxOutput, text.size());
    text.append(data, std::min(n, room));
    cut += n - std::min(n, room);
  }

  std::shared_ptr<HookGate> gate;
  config::HookOn kind{};
  std::string host;
  pid_t pid = -1;
  asio::posix::stream_descriptor exit;    // its pidfd: readable once it has exited
  asio::posix::stream_descriptor output;  // the pipe's read end
  asio::steady_timer timer;
  std::array<char, 4096> buffer{};
  std::string text;
  std::uint64_t cut = 0;
  bool timed_out = false;
  std::list<std::shared_ptr<Run>>::iterator self;
};

HookRunner::HookRunner(asio::io_context& io, const std::vector<config::Hook>& hooks)
    : io_(io), base_env_(base_environment(environ)) {
  configure(hooks);
}

HookRunner::~HookRunner() { stop(); }

void HookRunner::stop() {
  for (const auto& run : runs_) {
    boost::system::error_code ignored;
    run->timer.cancel();
    run->exit.close(ignored);
    run->output.close(ignored);
  }
  runs_.clear();
}

void HookRunner::configure(const std::vector<config::Hook>& hooks) {
  std::vector<std::shared_ptr<HookGate>> gates;
  for (const config::Hook& hook : hooks) {
    auto same = std::find_if(gates_.begin(), gates_.end(), [&](const auto& g) { return g->hook() == hook; });
    gates.push_back(same != gates_.end() ? *same : std::make_shared<HookGate>(hook));
  }
  gates_ = std::move(gates);
}

void HookRunner::on_event(const HookEvent& event) {
  auto now = std::chrono::steady_clock::now();
  for (const auto& gate : gates_) {
    if (!gate->wants(event)) continue;
    if (auto admitted = gate->offer(event, now)) start(gate, std::move(*admitted));
  }
}

void HookRunner::start(const std::shared_ptr<HookGate>& gate, HookEvent event) {
  const config::Hook& hook = gate->hook();
  int fds[2];
  if (!make_pipe(fds))
    return end(gate, event.kind, event.host, RunEnd::failed, std::string("no pipe: ") + std::strerror(errno), {});
  std::vector<std::string> argv{hook.program.string()};
  argv.insert(argv.end(), hook.args.begin(), hook.args.end());
  pid_t pid = -1;
  int error = spawn(pid, hook.program, argv, hook_environment(hook, event, base_env_), fds[1]);
  ::close(fds[1]);
  int pidfd = error ? -1 : open_pidfd(pid);
  if (!error && pidfd < 0) {  // a kernel before 5.3: nothing to wait on without blocking
    error = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);  // at once: it was just killed
  }
  if (error) {
    ::close(fds[0]);
    return end(gate, event.kind, event.host, RunEnd::failed, std::string("cannot run: ") + std::strerror(error), {});
  }
  auto run = std::make_shared<Run>(io_);
  run->gate = gate;
  run->kind = event.kind;
  run->host = std::move(event.host);
  run->pid = pid;
  run->exit.assign(pidfd);
  run->output.assign(fds[0]);
  run->self = runs_.insert(runs_.end(), run);
  watch(run);
  read_output(run);
  run->timer.expires_after(hook.timeout);
  run->timer.async_wait([this, run](const boost::system::error_code& ec) {
    if (!ec) on_timeout(run);
  });
}

void HookRunner::watch(const std::shared_ptr<Run>& run) {
  run->exit.async_wait(asio::posix::stream_descriptor::wait_read, [this, run](const boost::system::error_code& ec) {
    if (!ec) reap(run);
  });
}

void HookRunner::read_output(const std::shared_ptr<Run>& run) {
  run->output.async_read_some(asio::buffer(run->buffer), [this, run](const boost::system::error_code& ec, std::size_t n) {
    if (ec) return;  // the end of its output, or the run is over
    run->keep(run->buffer.data(), n);
    read_output(run);
  });
}

// SIGTERM to the whole group, for it to clean up; SIGKILL if it has not exited after the grace.
// The group's id is the program's pid, which cannot be reused before reap() has taken it.
void HookRunner::on_timeout(const std::shared_ptr<Run>& run) {
  run->timed_out = true;
  ::kill(-run->pid, SIGTERM);
  run->timer.expires_after(kKillGrace);
  run->timer.async_wait([run](const boost::system::error_code& ec) {
    if (!ec) ::kill(-run->pid, SIGKILL);
  });
}

void HookRunner::reap(const std::shared_ptr<Run>& run) {
  if (run->timed_out) ::kill(-run->pid, SIGKILL);  // what is left of its group, while its id is still reserved
  int status = 0;
  pid_t reaped = ::waitpid(run->pid, &status, WNOHANG);
  int wait_error = errno;
  if (reaped == 0) return watch(run);  // not yet: a spurious wake-up
  const int pipe = run->output.native_handle();
  std::size_t drained = 0;
  for (ssize_t n; drained < kMaxDrain && (n = ::read(pipe, run->buffer.data(), run->buffer.size())) > 0;
       drained += static_cast<std::size_t>(n))
    run->keep(run->buffer.data(), static_cast<std::size_t>(n));
  boost::system::error_code ignored;
  run->timer.cancel();
  run->exit.close(ignored);
  run->output.close(ignored);
  runs_.erase(run->self);
  bool ok = reaped == run->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  RunEnd how = run->timed_out ? RunEnd::timed_out : ok ? RunEnd::ok : RunEnd::failed;
  std::string what = reaped != run->pid ? std::string("its exit status is lost: ") + std::strerror(wait_error)
                                        : describe(status);
  if (run->timed_out)
    what = "timed out after " + std::to_string(run->gate->hook().timeout.count()) + " s, its process group killed (" +
           what + ")";
  std::string output;
  if (!run->text.empty()) {
    wire::append_escaped(output.append("; output: "), run->text);
    if (run->cut) output += " (" + std::to_string(run->cut) + " more bytes not shown)";
  }
  end(run->gate, run->kind, run->host, how, what, output);
}

// Says how the run of GATE for KIND of HOST ended, and starts what waited for it.
void HookRunner::end(const std::shared_ptr<HookGate>& gate, config::HookOn kind, const std::string& host, RunEnd how,
                     const std::string& what, const std::string& output) {
  notice(how == RunEnd::ok ? Severity::info : Severity::warning,
         "hook " + gate->hook().name + " for " + config::kHookOnNames[static_cast<std::size_t>(kind)] + " of " +
             safe_env_value(host) + ": " + what + output);
  if (auto next = gate->finished(kind, how)) start(gate, std::move(*next));
}

std::vector<HookFigures> HookRunner::figures() const {
  std::vector<HookFigures> out;
  for (const auto& gate : gates_)
    out.push_back({gate->hook().name, gate->hook().on, gate->counters(), gate->running(), gate->queued()});
  return out;
}

}  // namespace lastgasp::hooks
