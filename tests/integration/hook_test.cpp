// [[hook]] on the real daemon: real UDP on loopback, real programs (small sh scripts written
// by each test) run by it. The scripts leave their environment in files, which the tests read;
// the counts come from a real scrape of /metrics.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "digest.hpp"
#include "http/http_client.hpp"
#include "netconsole_record.hpp"
#include "receiver_process.hpp"
#include "tcp_client.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;
using Environment = std::map<std::string, std::string>;

// Leaves its environment where the test looks, OUT/EVENT.PID.env (whole, by a rename), and a
// copy of the incident file as it was when the hook ran.
constexpr const char* kRecorder = R"(#!/bin/sh
out="$1/$LASTGASP_EVENT.$$"
[ -z "$LASTGASP_INCIDENT_FILE" ] || cp "$LASTGASP_INCIDENT_FILE" "$out.incident"
env -0 > "$out.tmp" && mv "$out.tmp" "$out.env"
)";

// `env -0` output: NAME=VALUE, each ended by a NUL.
Environment parse_environment(const std::string& text) {
  Environment env;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\0', start)) != std::string::npos; start = end + 1) {
    std::string entry = text.substr(start, end - start);
    auto equals = entry.find('=');
    env[entry.substr(0, equals)] = equals == std::string::npos ? "" : entry.substr(equals + 1);
  }
  return env;
}

bool has_control_byte(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Whether PID has ended: gone, or a zombie its new parent has not reaped yet.
bool ended(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren != std::string::npos && stat.size() > paren + 2 && stat[paren + 2] == 'Z';
}

// One HTTP request taken on a loopback port of its own and answered 200, every wait bounded.
class WebhookListener {
 public:
  WebhookListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof at;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&at), sizeof at);
    ::listen(fd_, 4);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&at), &length);
    port_ = ntohs(at.sin_port);
  }
  ~WebhookListener() { ::close(fd_); }
  std::uint16_t port() const { return port_; }

  // The request's body, once its Content-Length has come; "" if none came within TIMEOUT.
  std::string take_body(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd listening{fd_, POLLIN, 0};
    if (::poll(&listening, 1, static_cast<int>(timeout.count())) != 1) return "";
    int peer = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    std::string request;
    char buffer[4096];
    while (std::chrono::steady_clock::now() < deadline && !complete(request)) {
      pollfd p{peer, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      ssize_t n = ::recv(peer, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ::send(peer, ok.data(), ok.size(), MSG_NOSIGNAL);
    ::close(peer);
    auto head_end = request.find("\r\n\r\n");
    return complete(request) ? request.substr(head_end + 4) : "";
  }

 private:
  static bool complete(const std::string& request) {
    auto head_end = request.find("\r\n\r\n");
    auto length_at = request.find("Content-Length: ");
    if (head_end == std::string::npos || length_at == std::string::npos) return false;
    return request.size() - head_end - 4 >= std::stoul(request.substr(length_at + 16));
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
};

class Hooks : public ::testing::Test {
 protected:
  // An executable script in the test's own directory.
  std::string script(const std::string& name, const std::string& text) {
    auto path = work_.path() / name;
    std::ofstream(path) << text;
    std::filesystem::permissions(path, std::filesystem::perms(0755));
    return path.string();
  }
  std::string recorder() { return script("record.sh", kRecorder); }
  std::string out() const { return (work_.path() / "out").string(); }

  // Starts the receiver with CONFIG (the [[hook]] tables and any other key) from a file of its own.
  void start(const std::string& config) {
    std::filesystem::create_directories(out());
    auto file = work_.path() / "receiver.toml";
    std::ofstream(file) << config;
    rx_ = std::make_unique<ReceiverProcess>(
        std::vector<std::string>{"--config", file.string(), "--listen", "127.0.0.1:" + std::to_string(port_),
                                 "--log-dir", logs_.path().string(), "--http", http_},
        "listening on", std::vector<std::string>{"LASTGASP_TEST_SECRET=not-for-hooks"});
  }

  // Every run's environment for EVENT, as the recorder left it.
  std::vector<Environment> runs(const std::string& event) const {
    std::vector<Environment> found;
    for (const auto& entry : std::filesystem::directory_iterator(out())) {
      std::string name = entry.path().filename().string();
      if (name.starts_with(event + ".") && name.ends_with(".env"))
        found.push_back(parse_environment(read_file(entry.path())));
    }
    return found;
  }
  bool ran(const std::string& event, std::size_t times) const { return runs(event).size() == times; }

  // The value of SERIES (name and labels, exactly as exposed) on a scrape of /metrics.
  std::optional<double> metric(const std::string& series) const {
    auto fetched = http::http_get(http_, "/metrics", "", 5s).fetched;
    if (!fetched || fetched->status != 200) return std::nullopt;
    std::string prefix = "\n" + series + " ";
    auto at = ("\n" + fetched->body).find(prefix);
    if (at == std::string::npos) return std::nullopt;
    return std::stod(fetched->body.substr(at + prefix.size() - 1));
  }
  bool metric_is(const std::string& series, double value) const { return metric(series) == value; }

  // What `promtool check metrics` says of a scrape, the hooks' series in it: nothing, if all is well.
  std::string promtool_lint() const {
    http::Asked asked = http::http_get(http_, "/metrics", "", 5s);
    auto& fetched = asked.fetched;
    if (!fetched) return "no scrape: " + asked.error.message();
    auto scrape = work_.path() / "scrape.txt";
    std::ofstream(scrape) << fetched->body;
    std::string out;
    int status = run_command({"/bin/sh", "-c", "promtool check metrics < '" + scrape.string() + "'"}, out);
    return status == 0 ? out : "exit status " + std::to_string(status) + ": " + out;
  }

  std::filesystem::path host_dir(const std::string& host) const { return logs_.path() / host; }

  TempDir logs_, work_;
  std::uint16_t port_ = free_port();
  std::string http_ = "127.0.0.1:" + std::to_string(free_port());
  std::unique_ptr<ReceiverProcess> rx_;
};

TEST_F(Hooks, PanicIncidentAndRebootHooksAreToldTheHostTheFileAndTheLine) {
  start("[[hook]]\nname = \"record\"\non = [\"panic\", \"incident\", \"reboot\"]\nprogram = \"" + recorder() +
        "\"\nargs = [\"" + out() + "\"]\nconcurrency = 4\n");
  UdpSender sender("127.0.0.1", port_);
  sender.send(ext(6, 1, 1000, "boot line one"));
  sender.send(ext(6, 2, 2000, "boot line two"));
  sender.send(ext(1, 3, 3000, "Oops: 0002 [#1] PREEMPT SMP"));
  sender.send(ext(4, 4, 4000, "RIP: 0010:do_thing+0x12/0x40"));
  sender.send(ext(0, 5, 5000, "Kernel panic - not syncing: Fatal exception"));
  ASSERT_TRUE(eventually([&] { return ran("panic", 1) && ran("incident", 1); }, 5s)) << rx_->stderr_text();
  sender.send(ext(6, 0, 100, "Linux version 6.1.0 (a new boot)"));
  ASSERT_TRUE(eventually([&] { return ran("reboot", 1); }, 5s)) << rx_->stderr_text();

  const std::string log = (host_dir("127.0.0.1") / "console.log").string();
  Environment panic = runs("panic")[0];
  EXPECT_EQ(panic["LASTGASP_EVENT"], "panic");
  EXPECT_EQ(panic["LASTGASP_HOOK"], "record");
  EXPECT_EQ(panic["LASTGASP_HOST"], "127.0.0.1");
  EXPECT_EQ(panic["LASTGASP_LOG"], log);
  EXPECT_EQ(panic["LASTGASP_BOOT"], "1");
  EXPECT_EQ(panic["LASTGASP_SEQ"], "5");
  EXPECT_EQ(panic["LASTGASP_INCIDENT_KIND"], "panic");
  EXPECT_EQ(panic["LASTGASP_PANIC_LINE"], "Kernel panic - not syncing: Fatal exception");
  EXPECT_EQ(panic["LASTGASP_TRIGGER_LINE"], "Kernel panic - not syncing: Fatal exception");
  EXPECT_EQ(panic["LASTGASP_TIME"].size(), 27u);
  EXPECT_TRUE(panic["LASTGASP_TIME"].ends_with("Z"));
  std::filesystem::path panic_file = panic["LASTGASP_INCIDENT_FILE"];
  EXPECT_EQ(panic_file.parent_path(), host_dir("127.0.0.1") / "incidents");
  EXPECT_TRUE(panic_file.filename().string().ends_with("-panic.log")) << panic_file;
  // The file was on disk when the hook ran, with the lines before the panic and the panic.
  std::string seen;
  for (const auto& entry : std::filesystem::directory_iterator(out()))
    if (entry.path().filename().string().starts_with("panic.") && entry.path().extension() == ".incident")
      seen = read_file(entry.path());
  EXPECT_NE(seen.find("boot line two"), std::string::npos) << seen;
  EXPECT_NE(seen.find("Kernel panic - not syncing: Fatal exception"), std::string::npos) << seen;

  Environment oops = runs("incident")[0];
  EXPECT_EQ(oops["LASTGASP_EVENT"], "incident");
  EXPECT_EQ(oops["LASTGASP_INCIDENT_KIND"], "oops");
  EXPECT_EQ(oops["LASTGASP_TRIGGER_LINE"], "Oops: 0002 [#1] PREEMPT SMP");
  EXPECT_EQ(oops["LASTGASP_SEQ"], "3");
  EXPECT_FALSE(oops.contains("LASTGASP_PANIC_LINE"));
  EXPECT_TRUE(std::filesystem::path(oops["LASTGASP_INCIDENT_FILE"]).filename().string().ends_with("-oops.log"));

  Environment reboot = runs("reboot")[0];
  EXPECT_EQ(reboot["LASTGASP_EVENT"], "reboot");
  EXPECT_EQ(reboot["LASTGASP_HOST"], "127.0.0.1");
  EXPECT_EQ(reboot["LASTGASP_BOOT"], "2");
  EXPECT_EQ(reboot["LASTGASP_SEQ"], "0");
  EXPECT_FALSE(reboot.contains("LASTGASP_INCIDENT_FILE"));

  // Nothing of the daemon's environment but PATH and the locale (and PWD, which sh adds).
  for (const Environment& env : {panic, oops, reboot})
    for (const auto& [name, value] : env)
      EXPECT_TRUE(name.starts_with("LASTGASP_") || name == "PATH" || name == "LANG" || name == "LC_ALL" ||
                  name == "LC_CTYPE" || name == "TZ" || name == "PWD")
          << name << "=" << value;
  EXPECT_FALSE(panic.contains("LASTGASP_TEST_SECRET"));
  EXPECT_EQ(panic["PWD"], "/");

  EXPECT_TRUE(eventually([&] { return metric_is(R"(lastgasp_hook_runs_total{hook="record",event="panic"})", 1); }));
  EXPECT_EQ(metric(R"(lastgasp_hook_runs_total{hook="record",event="incident"})"), 1);
  EXPECT_EQ(metric(R"(lastgasp_hook_runs_total{hook="record",event="reboot"})"), 1);
  EXPECT_EQ(metric(R"(lastgasp_hook_failures_total{hook="record",event="panic"})"), 0);
  EXPECT_EQ(promtool_lint(), "");
  EXPECT_EQ(rx_->stop(SIGTERM), 0);
  EXPECT_NE(rx_->stderr_text().find("hook record for panic of 127.0.0.1: exit status 0"), std::string::npos);
}

// A pstore record with a panic, uploaded as lastgasp-setup collect does: the hook is told of the
// stored record, its incident copy and the panic line.
TEST_F(Hooks, APstoreUploadTellsTheRecordItsIncidentCopyAndThePanicLine) {
  start("[[hook]]\non = [\"pstore\"]\nprogram = \"" + recorder() + "\"\nargs = [\"" + out() + "\"]\n");
  const std::string record = "Panic#1 Part1\n<0>[    4.568770] Kernel panic - not syncing: sysrq triggered crash\n";
  const std::string boot_id = "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4";
  TcpClient client(port_);
  ASSERT_TRUE(client.connected());
  client.send("LASTGASP/1 PSTORE host=guest boot_id=" + boot_id + " name=dmesg-ramoops-0 size=" +
              std::to_string(record.size()) + " sha256=" + sha256_hex(record) + "\n" + record);
  ASSERT_EQ(client.line(), "OK stored sha256=" + sha256_hex(record));
  ASSERT_TRUE(eventually([&] { return ran("pstore", 1); }, 5s)) << rx_->stderr_text();
  Environment env = runs("pstore")[0];
  EXPECT_EQ(env["LASTGASP_EVENT"], "pstore");
  EXPECT_EQ(env["LASTGASP_HOST"], "127.0.0.1");
  EXPECT_EQ(env["LASTGASP_PSTORE_FILE"], (host_dir("127.0.0.1") / "pstore" / boot_id / "dmesg-ramoops-0").string());
  EXPECT_EQ(env["LASTGASP_INCIDENT_KIND"], "panic");
  EXPECT_EQ(env["LASTGASP_PANIC_LINE"], "Kernel panic - not syncing: sysrq triggered crash");
  EXPECT_FALSE(env.contains("LASTGASP_TRIGGER_LINE"));
  std::filesystem::path copy = env["LASTGASP_INCIDENT_FILE"];
  EXPECT_TRUE(copy.filename().string().ends_with("-pstore-panic.log")) << copy;
  EXPECT_EQ(read_file(copy), record);
}

// The webhook of lastgasp-receiver(8), word for word but for its URL, with Debian's curl.
TEST_F(Hooks, TheManPagesWebhookPostsThePanicWithCurl) {
  WebhookListener webhook;
  start("[[hook]]\nname = \"webhook\"\non = [\"panic\", \"silent\"]\nprogram = \"/bin/sh\"\n"
        "args = [\"-c\", 'exec curl -fsS --max-time 20 --data-urlencode \"host=$LASTGASP_HOST\" --data-urlencode "
        "\"event=$LASTGASP_EVENT\" --data-urlencode \"line=$LASTGASP_PANIC_LINE\" http://127.0.0.1:" +
        std::to_string(webhook.port()) + "/lastgasp']\n");
  UdpSender("127.0.0.1", port_).send(ext(0, 1, 1000, "Kernel panic - not syncing: VFS: Unable to mount root fs"));
  EXPECT_EQ(webhook.take_body(10s),
            "host=127.0.0.1&event=panic&line=Kernel+panic+-+not+syncing%3A+VFS%3A+Unable+to+mount+root+fs");
  EXPECT_TRUE(eventually([&] { return metric_is(R"(lastgasp_hook_runs_total{hook="webhook",event="panic"})", 1); }));
  EXPECT_TRUE(eventually([&] { return rx_->stderr_text().find("hook webhook for panic of 127.0.0.1: exit status 0") !=
                                      std::string::npos; }))
      << rx_->stderr_text();
}

// Host .1 goes silent first; by the time .2 has been silent too, .1 has been silent for longer
// than silent_after twice over, and is still told of once. It speaks again and is told again.
TEST_F(Hooks, ASilentHostIsToldOfOnceAndAgainAfterItSpoke) {
  start("silent_after_s = 1\n[[hook]]\non = [\"silent\"]\nprogram = \"" + recorder() + "\"\nargs = [\"" + out() +
        "\"]\n");
  UdpSender first("127.0.0.1", port_, "127.0.0.1");
  first.send(ext(6, 1, 1000, "first speaks"));
  ASSERT_TRUE(eventually([&] { return ran("silent", 1); }, 5s)) << rx_->stderr_text();
  EXPECT_EQ(runs("silent")[0]["LASTGASP_HOST"], "127.0.0.1");
  EXPECT_EQ(runs("silent")[0]["LASTGASP_LOG"], (host_dir("127.0.0.1") / "console.log").string());

  UdpSender second("127.0.0.1", port_, "127.0.0.2");
  second.send(ext(6, 1, 1000, "second speaks"));
  ASSERT_TRUE(eventually([&] { return ran("silent", 2); }, 5s)) << rx_->stderr_text();
  std::map<std::string, int> told;
  for (Environment& env : runs("silent")) ++told[env["LASTGASP_HOST"]];
  EXPECT_EQ(told, (std::map<std::string, int>{{"127.0.0.1", 1}, {"127.0.0.2", 1}}));

  first.send(ext(6, 2, 2000, "first speaks again"));
  ASSERT_TRUE(eventually([&] { return ran("silent", 3); }, 5s)) << rx_->stderr_text();
}

// A host let go (stream_idle_s) before it had been silent for silent_after_s is told of all the same.
TEST_F(Hooks, AHostLetGoBeforeItWasSilentLongEnoughIsToldOf) {
  start("silent_after_s = 2\nstream_idle_s = 1\n[[hook]]\non = [\"silent\"]\nprogram = \"" + recorder() +
        "\"\nargs = [\"" + out() + "\"]\n");
  UdpSender sender("127.0.0.1", port_);
  sender.send(ext(6, 1, 1000, "speaks once"));
  ASSERT_TRUE(eventually([&] { return metric_is("lastgasp_hosts", 1); }));
  ASSERT_TRUE(eventually([&] { return metric_is("lastgasp_hosts", 0); }, 5s)) << "let go";
  ASSERT_TRUE(eventually([&] { return ran("silent", 1); }, 5s)) << rx_->stderr_text();
  EXPECT_EQ(runs("silent")[0]["LASTGASP_HOST"], "127.0.0.1");
}

// The hook ignores SIGTERM, and so does the child it leaves: SIGKILL ends the whole group.
TEST_F(Hooks, AHookPastItsTimeoutIsKilledWithItsProcessGroupAndCounted) {
  std::string slow = script("slow.sh", "#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $$ $! > \"$1/pids.tmp\"\n"
                                       "mv \"$1/pids.tmp\" \"$1/pids\"\nwait\n");
  start("[[hook]]\nname = \"slow\"\non = [\"panic\"]\nprogram = \"" + slow + "\"\nargs = [\"" + out() +
        "\"]\ntimeout_s = 1\n");
  UdpSender sender("127.0.0.1", port_);
  sender.send(ext(0, 1, 1000, "Kernel panic - not syncing: hung hook"));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(out() + "/pids"); }, 5s)) << rx_->stderr_text();
  pid_t shell = 0, child = 0;
  std::istringstream(read_file(out() + "/pids")) >> shell >> child;
  ASSERT_GT(shell, 0);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(eventually([&] { return metric_is(R"(lastgasp_hook_timeouts_total{hook="slow",event="panic"})", 1); },
                         10s))
      << rx_->stderr_text();
  EXPECT_TRUE(eventually([&] { return ended(shell) && ended(child); }));
  EXPECT_EQ(metric(R"(lastgasp_hook_runs_total{hook="slow",event="panic"})"), 1);
  EXPECT_EQ(metric(R"(lastgasp_hook_failures_total{hook="slow",event="panic"})"), 0);
  EXPECT_EQ(metric(R"(lastgasp_hook_running{hook="slow"})"), 0);
  EXPECT_NE(rx_->stderr_text().find("hook slow for panic of 127.0.0.1: timed out after 1 s"), std::string::npos)
      << rx_->stderr_text();
}

// Five hosts panic at once: two runs in the minute, three dropped and counted, never run.
TEST_F(Hooks, ABurstPastTheRateIsDroppedAndCountedNotRun) {
  start("[[hook]]\nname = \"page\"\non = [\"panic\"]\nprogram = \"" + recorder() + "\"\nargs = [\"" + out() +
        "\"]\nmax_per_minute = 2\nconcurrency = 4\n");
  for (int i = 1; i <= 5; ++i)
    UdpSender("127.0.0.1", port_, "127.0.0." + std::to_string(i)).send(ext(0, 1, 1000, "Kernel panic - not syncing: burst"));
  ASSERT_TRUE(eventually([&] {
    return metric_is(R"(lastgasp_hook_dropped_total{hook="page",event="panic",reason="rate"})", 3);
  }, 5s)) << rx_->stderr_text();
  ASSERT_TRUE(eventually([&] { return ran("panic", 2); }, 5s));
  EXPECT_EQ(metric(R"(lastgasp_hook_runs_total{hook="page",event="panic"})"), 2);
  EXPECT_EQ(metric(R"(lastgasp_hook_dropped_total{hook="page",event="panic",reason="queue"})"), 0);
  EXPECT_EQ(runs("panic").size(), 2u);
}

// One run at a time and no queue: while the first waits for the test, the others are dropped.
TEST_F(Hooks, EventsPastConcurrencyAndAFullQueueAreDroppedAndCounted) {
  std::string waits = script("wait.sh", "#!/bin/sh\ntouch \"$1/started\"\n"
                                        "while [ ! -e \"$1/release\" ]; do sleep 0.05; done\nexit 3\n");
  start("[[hook]]\nname = \"one\"\non = [\"panic\"]\nprogram = \"" + waits + "\"\nargs = [\"" + out() +
        "\"]\nconcurrency = 1\nqueue = 0\nmax_per_minute = 100\n");
  UdpSender("127.0.0.1", port_, "127.0.0.1").send(ext(0, 1, 1000, "Kernel panic - not syncing: first"));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(out() + "/started"); }, 5s)) << rx_->stderr_text();
  for (int i = 2; i <= 3; ++i)
    UdpSender("127.0.0.1", port_, "127.0.0." + std::to_string(i)).send(ext(0, 1, 1000, "Kernel panic - not syncing: more"));
  ASSERT_TRUE(eventually([&] {
    return metric_is(R"(lastgasp_hook_dropped_total{hook="one",event="panic",reason="queue"})", 2);
  }, 5s)) << rx_->stderr_text();
  EXPECT_EQ(metric(R"(lastgasp_hook_running{hook="one"})"), 1);
  std::ofstream(out() + "/release") << "go";
  ASSERT_TRUE(eventually([&] { return metric_is(R"(lastgasp_hook_failures_total{hook="one",event="panic"})", 1); },
                         5s));
  EXPECT_EQ(metric(R"(lastgasp_hook_runs_total{hook="one",event="panic"})"), 1);
  EXPECT_NE(rx_->stderr_text().find("hook one for panic of 127.0.0.1: exit status 3"), std::string::npos);
}

// Escape sequences, a CR and what looks like a variable, and a line far past the bound: the
// hook gets the line escaped as the log has it, and cut.
TEST_F(Hooks, AHostileLineNeverReachesTheEnvironmentRaw) {
  start("[[hook]]\non = [\"panic\"]\nprogram = \"" + recorder() + "\"\nargs = [\"" + out() + "\"]\n");
  std::string hostile = "Kernel panic - not syncing: \x1b[2J\x1b]0;owned\x07\rLASTGASP_HOST=evil\x7f " +
                        std::string(3000, 'A');
  UdpSender("127.0.0.1", port_).send(ext(0, 1, 1000, hostile));
  ASSERT_TRUE(eventually([&] { return ran("panic", 1); }, 5s)) << rx_->stderr_text();
  Environment env = runs("panic")[0];
  EXPECT_EQ(env["LASTGASP_HOST"], "127.0.0.1");
  const std::string& line = env["LASTGASP_PANIC_LINE"];
  EXPECT_TRUE(line.starts_with("Kernel panic - not syncing: \\x1b[2J\\x1b]0;owned\\x07\\x0dLASTGASP_HOST=evil\\x7f AAA"))
      << line;
  EXPECT_LE(line.size(), 1024u);
  EXPECT_GE(line.size(), 1000u);
  for (const auto& [name, value] : env) EXPECT_FALSE(has_control_byte(value)) << name;
}

}  // namespace
}  // namespace lastgasp::test
