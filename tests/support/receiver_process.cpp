#include "receiver_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace lastgasp::test {

namespace {

sockaddr_storage make_address(const std::string& host, std::uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("bad address " + host);
  }
  return ss;
}

pid_t spawn(const std::vector<std::string>& args, int out_fd, const std::vector<std::string>& environment = {}) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(out_fd, STDERR_FILENO);
  for (const auto& assignment : environment) ::putenv(const_cast<char*>(assignment.c_str()));
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

int wait_status(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / ("lastgasp-test-" + std::to_string(::getpid()) + "-" +
                                                   std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// The receiver binds UDP and TCP on one port, and ctest -j runs other receivers meanwhile: a
// port is only good if both are free.
std::uint16_t free_port(const std::string& address) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    socklen_t len = 0;
    sockaddr_storage ss = make_address(address, 0, len);
    int tcp = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int udp = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool free = ::bind(tcp, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
                ::getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
                ::bind(udp, reinterpret_cast<sockaddr*>(&ss), len) == 0;
    ::close(tcp);
    ::close(udp);
    if (free)
      return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                           : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  throw std::runtime_error("no port free for both UDP and TCP on " + address);
}

bool udp_queues_empty(std::uint16_t port) {
  char local_port[8];
  std::snprintf(local_port, sizeof local_port, ":%04X", port);
  for (const char* table : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues;
      fields >> slot >> local >> remote >> state >> queues;  // queues: TX:RX in hex
      if (local.size() >= 5 && local.compare(local.size() - 5, 5, local_port) == 0 &&
          queues.substr(queues.find(':') + 1) != "00000000")
        return false;
    }
  }
  return true;
}

ReceiverProcess::ReceiverProcess(std::vector<std::string> args, const std::string& ready_text,
                                 const std::vector<std::string>& environment) {
  if (args.empty() || args[0].find('/') == std::string::npos) args.insert(args.begin(), kReceiverBinary);
  // The HTTP side only where a test asks for it: 127.0.0.1:9666 is one port for every test. Only
  // for the daemon: a subcommand (tail -f) refuses the daemon's options.
  bool daemon = args[0] == kReceiverBinary && (args.size() == 1 || args[1].starts_with("-"));
  if (daemon && std::find(args.begin(), args.end(), "--http") == args.end()) args.insert(args.begin() + 1, {"--http", ""});
  // Without --config the daemon reads /etc/lastgasp/receiver.toml, which an installed package
  // (journal = true, an allow list) would bring into every test: the defaults, explicitly.
  if (args[0] == kReceiverBinary && std::find(args.begin(), args.end(), "--config") == args.end()) {
    std::ofstream(scratch_.path() / "defaults.toml") << "# every key at its default\n";
    args.push_back("--config");
    args.push_back((scratch_.path() / "defaults.toml").string());
  }
  int out = ::open((scratch_.path() / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = spawn(args, out, environment);
  ::close(out);
  if (ready_text.empty()) return;
  bool ready = eventually([&] {
    if (stderr_text().find(ready_text) != std::string::npos) return true;
    int status;
    return ::waitpid(pid_, &status, WNOHANG) == pid_ ? (pid_ = -1, true) : false;
  }, std::chrono::milliseconds(10'000));
  if (!ready || pid_ < 0) throw std::runtime_error("receiver did not start: " + stderr_text());
}

ReceiverProcess::~ReceiverProcess() {
  if (pid_ > 0) kill_hard();
}

int ReceiverProcess::stop(int signal) {
  this->signal(signal);
  int status = wait_status(pid_);
  pid_ = -1;
  return status;
}

void ReceiverProcess::kill_hard() { stop(SIGKILL); }

void ReceiverProcess::signal(int signal) {
  // Once reaped, pid_ is -1, and kill(-1, SIGNAL) as root signals every process on the machine.
  if (pid_ <= 0) throw std::logic_error("the receiver was stopped already");
  ::kill(pid_, signal);
}

std::string ReceiverProcess::stderr_text() const { return read_file(scratch_.path() / "stderr"); }

int run_command(const std::vector<std::string>& args, std::string& output) {
  TempDir dir;
  int out = ::open((dir.path() / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t pid = spawn(args, out);
  ::close(out);
  int status = wait_status(pid);
  output = read_file(dir.path() / "out");
  return status;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

UdpSender::UdpSender(const std::string& target, std::uint16_t port, const std::string& bind_address,
                     std::uint16_t bind_port) {
  socklen_t len = 0;
  sockaddr_storage to = make_address(target, port, len);
  target_.assign(reinterpret_cast<char*>(&to), reinterpret_cast<char*>(&to) + len);
  fd_ = ::socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (!bind_address.empty() || bind_port) {
    socklen_t blen = 0;
    sockaddr_storage from = make_address(bind_address.empty() ? (to.ss_family == AF_INET ? "0.0.0.0" : "::")
                                                               : bind_address,
                                         bind_port, blen);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), blen) != 0)
      throw std::runtime_error("bind " + bind_address + ": " + std::strerror(errno));
  }
}

UdpSender::~UdpSender() { ::close(fd_); }

void UdpSender::send(const std::string& payload) {
  if (::sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(target_.data()),
               static_cast<socklen_t>(target_.size())) < 0)
    throw std::runtime_error(std::string("sendto: ") + std::strerror(errno));
}

std::uint16_t UdpSender::local_port() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace lastgasp::test
