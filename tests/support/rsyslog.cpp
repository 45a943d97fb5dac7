#include "rsyslog.hpp"

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lastgasp::test {

namespace {

// Fields split by a byte no message holds: the forwarder escapes control bytes.
constexpr char kSeparator = '\t';

}  // namespace

bool tcp_port_open(std::uint16_t port, std::chrono::milliseconds timeout) {
  return eventually([&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return open;
  }, timeout);
}

Rsyslog::Rsyslog(const std::filesystem::path& dir, std::uint16_t port, const std::string& modules,
                 const std::string& input_type, const std::string& input_params)
    : dir_(dir), port_(port) {
  std::filesystem::create_directories(dir_ / "work");
  std::ofstream conf(dir_ / "rsyslog.conf");
  conf << "global(workDirectory=\"" << (dir_ / "work").string() << "\" maxMessageSize=\"256k\")\n"
       << modules << "\n"
       << "template(name=\"fields\" type=\"list\") { property(name=\"hostname\") constant(value=\"\\t\") "
          "property(name=\"app-name\") constant(value=\"\\t\") property(name=\"msgid\") constant(value=\"\\t\") "
          "property(name=\"pri\") constant(value=\"\\t\") property(name=\"structured-data\") "
          "constant(value=\"\\t\") property(name=\"msg\") constant(value=\"\\n\") }\n"
       // Direct: a message is in the file before rsyslog answers it (RELP), so a SIGKILL loses
       // nothing rsyslog acknowledged.
       << "ruleset(name=\"in\" queue.type=\"Direct\") { action(type=\"omfile\" file=\"" << (dir_ / "out.log").string()
       << "\" template=\"fields\") }\n"
       << "input(type=\"" << input_type << "\" port=\"" << port << "\" address=\"127.0.0.1\" ruleset=\"in\" "
       << input_params << ")\n";
  conf.close();
  start();
}

void Rsyslog::restart() {
  process_.reset();
  start();
}

void Rsyslog::start() {
  process_ = std::make_unique<ReceiverProcess>(
      std::vector<std::string>{"/usr/sbin/rsyslogd", "-n", "-iNONE", "-f", (dir_ / "rsyslog.conf").string()}, "");
  if (!tcp_port_open(port_, std::chrono::milliseconds(10'000)))
    throw std::runtime_error("rsyslogd did not listen on " + std::to_string(port_) + ": " + process_->stderr_text());
}

Rsyslog::~Rsyslog() = default;  // the process kills what is left

void Rsyslog::stop() { process_->stop(SIGTERM); }
void Rsyslog::kill() { process_->kill_hard(); }
void Rsyslog::pause() { process_->signal(SIGSTOP); }
void Rsyslog::resume() { process_->signal(SIGCONT); }

std::vector<SyslogLine> Rsyslog::lines() const {
  std::vector<SyslogLine> out;
  for (const std::string& line : read_lines(dir_ / "out.log")) {
    std::vector<std::string> f;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, kSeparator)) f.push_back(field);
    if (f.size() == 6) out.push_back({f[0], f[1], f[2], f[3], f[4], f[5]});
  }
  return out;
}

}  // namespace lastgasp::test
