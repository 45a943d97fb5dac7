// The receiver's HTTP side over real TCP against the real daemon: /metrics
// (checked by promtool), /api/hosts (against `hosts --json`), the token off
// loopback, and hostile peers, each bounded and answered.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "hosts/host_state.hpp"
#include "receiver_process.hpp"
#include "tcp_client.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

std::string ext(unsigned prio, std::uint64_t seq, std::uint64_t ts, const std::string& text) {
  return std::to_string(prio) + "," + std::to_string(seq) + "," + std::to_string(ts) + ",-;" + text + "\n";
}

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

Response parse(const std::string& raw) {
  Response r;
  std::size_t end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  return r;
}

Response request(std::uint16_t port, const std::string& method, const std::string& target,
                 const std::string& extra_headers = "") {
  TcpClient c(port);
  EXPECT_TRUE(c.connected());
  c.send(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra_headers + "\r\n");
  return parse(c.read_to_close(15s));
}

Response get(std::uint16_t port, const std::string& target) { return request(port, "GET", target); }

// A receiver with its HTTP side on loopback, and a log directory holding a planted host whose
// directory name needs escaping in a label (a name no sender can give, but a directory can have).
class Http : public ::testing::Test {
 protected:
  void SetUp() override {
    plant_host("odd\"na\\me\nx");
    udp_ = free_port();
    http_ = free_port();
    config_ = scratch_.path() / "receiver.toml";
    std::ofstream(config_) << "log_dir = \"" << logs_.path().string() << "\"\nlisten = [\"127.0.0.1:" << udp_
                           << "\"]\nhttp_listen = \"127.0.0.1:" << http_ << "\"\nsilent_after_s = 600\n";
    rx_ = std::make_unique<ReceiverProcess>(
        std::vector<std::string>{"--config", config_.string(), "--http", "127.0.0.1:" + std::to_string(http_)},
        "for /, /metrics");
  }
  void plant_host(const std::string& name) {
    std::filesystem::create_directories(logs_.path() / name);
    std::ofstream(logs_.path() / name / "console.log") << "";
    hosts::HostState s;
    s.address = "192.0.2.9";
    s.records = 7;
    s.panics = 2;
    s.last_event = "panic";
    s.last_seen_us = 1'700'000'000'000'000;
    std::ofstream(logs_.path() / name / "state.json") << s.to_json();
  }
  std::string metrics() { return get(http_, "/metrics").body; }

  TempDir logs_, scratch_;
  std::filesystem::path config_;
  std::uint16_t udp_ = 0, http_ = 0;
  std::unique_ptr<ReceiverProcess> rx_;
};

TEST_F(Http, MetricsAfterRealTrafficWithAPanicPassPromtool) {
  UdpSender web("127.0.0.1", udp_, "127.0.0.12");
  web.send(ext(6, 1, 10, "hello"));
  web.send(ext(6, 4, 40, "after a gap"));
  web.send(ext(0, 5, 50, "Kernel panic - not syncing: gone"));
  std::string scrape;
  ASSERT_TRUE(eventually([&] {
    scrape = metrics();  // the host's figures from the writer, the receiver's as its threads publish them
    return scrape.find("lastgasp_host_panics_total{host=\"127.0.0.12\"} 1\n") != std::string::npos &&
           scrape.find("lastgasp_incidents_total{kind=\"panic\"} 1\n") != std::string::npos;
  }, 5000ms)) << scrape;
  EXPECT_NE(scrape.find("lastgasp_host_records_total{host=\"127.0.0.12\"} 3\n"), std::string::npos) << scrape;
  EXPECT_NE(scrape.find("lastgasp_host_records_lost_total{host=\"127.0.0.12\"} 2\n"), std::string::npos);
  EXPECT_NE(scrape.find("lastgasp_host_state{host=\"127.0.0.12\",state=\"panicked\"} 1\n"), std::string::npos);
  EXPECT_NE(scrape.find("lastgasp_datagrams_total 3\n"), std::string::npos) << scrape;
  EXPECT_NE(scrape.find("lastgasp_build_info{version=\""), std::string::npos);
  // The planted directory: '"', '\' and the newline escaped as the format says.
  EXPECT_NE(scrape.find("lastgasp_host_panics_total{host=\"odd\\\"na\\\\me\\nx\"} 2\n"), std::string::npos) << scrape;
  std::ofstream(scratch_.path() / "scrape.txt") << scrape;
  std::string out;
  EXPECT_EQ(run_command({"/bin/sh", "-c", "promtool check metrics < '" + (scratch_.path() / "scrape.txt").string() + "'"},
                        out),
            0)
      << out;
  EXPECT_EQ(out, "") << "promtool's lint has something to say";
}

// Debian's prometheus, on loopback with its own config and storage, scrapes the receiver each
// second; its query API then has the host's panic count. No prometheus is a failure.
TEST_F(Http, ARealPrometheusScrapesTheHostsPanicCount) {
  UdpSender web("127.0.0.1", udp_, "127.0.0.12");
  web.send(ext(6, 1, 10, "hello"));
  web.send(ext(0, 2, 20, "Kernel panic - not syncing: gone"));
  std::uint16_t prom = free_port();
  std::ofstream(scratch_.path() / "prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
         "scrape_configs:\n  - job_name: lastgasp\n    static_configs: [{targets: ['127.0.0.1:"
      << http_ << "']}]\n";
  ReceiverProcess prometheus({"/usr/bin/prometheus", "--config.file=" + (scratch_.path() / "prometheus.yml").string(),
                              "--storage.tsdb.path=" + (scratch_.path() / "tsdb").string(),
                              "--web.listen-address=127.0.0.1:" + std::to_string(prom)},
                             "Server is ready to receive web requests");
  const std::string query = "/api/v1/query?query=lastgasp_host_panics_total%7Bhost%3D%22127.0.0.12%22%7D";
  nlohmann::json answer;
  ASSERT_TRUE(eventually([&] {
    answer = nlohmann::json::parse(get(prom, query).body, nullptr, false);
    return answer.is_object() && answer["data"]["result"].size() == 1 &&
           answer["data"]["result"][0]["value"][1] == "1";
  }, 20'000ms)) << answer << "\n" << prometheus.stderr_text();
  EXPECT_EQ(answer["data"]["result"][0]["metric"]["job"], "lastgasp");
  nlohmann::json up = nlohmann::json::parse(get(prom, "/api/v1/query?query=up").body, nullptr, false);
  EXPECT_EQ(up["data"]["result"][0]["value"][1], "1") << up;
}

TEST_F(Http, MetricsAnswersHeadWithItsLengthAndNoBody) {
  Response head = request(http_, "HEAD", "/metrics");
  EXPECT_EQ(head.status, 200) << head.head;
  EXPECT_NE(head.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << head.head;
  EXPECT_EQ(head.head.find("Content-Length: 0"), std::string::npos) << head.head;
  EXPECT_EQ(head.body, "");
}

TEST_F(Http, ApiHostsIsLiveAndTheSameAsHostsJson) {
  UdpSender quiet("127.0.0.1", udp_, "127.0.0.11");
  quiet.send(ext(6, 1, 10, "hello"));
  // Live from memory: a host with no incident has no state file for up to 30 s.
  nlohmann::json rows;
  ASSERT_TRUE(eventually([&] {
    rows = nlohmann::json::parse(get(http_, "/api/hosts").body, nullptr, false);
    return rows.is_array() && rows.size() == 2 && rows[0]["host"] == "127.0.0.11" && rows[0]["records"] == 1;
  }, 5000ms)) << rows;
  EXPECT_FALSE(std::filesystem::exists(logs_.path() / "127.0.0.11" / "state.json"));
  EXPECT_EQ(rows[0]["state"], "live");
  EXPECT_EQ(rows[1]["host"], "odd\"na\\me\nx");
  EXPECT_EQ(rows[1]["state"], "panicked");
  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "--json", "--config", config_.string()}, out), 0) << out;
  auto cli = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(cli.is_array()) << out;
  for (auto* r : {&rows, &cli}) (*r)[0].erase("last_seen");  // the same but for time passing
  EXPECT_EQ(cli, rows) << "hosts asks the running daemon";
  // The files have it too, from its log, though its state file may not be saved yet.
  EXPECT_TRUE(eventually([&] {
    run_command({kReceiverBinary, "hosts", "--json", "--log-dir", logs_.path().string()}, out);
    auto files = nlohmann::json::parse(out, nullptr, false);
    return files.is_array() && files.size() == 2 && files[0]["host"] == "127.0.0.11" && files[0]["records"] == 1;
  })) << out;
  // The daemon gone, `hosts` reads the files, without a word: there is nothing to ask.
  EXPECT_EQ(rx_->stop(SIGTERM), 0);
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "--config", config_.string()}, out), 0) << out;
  EXPECT_NE(out.find("127.0.0.11"), std::string::npos) << "saved at exit: " << out;
  EXPECT_EQ(out.find("did not answer"), std::string::npos) << out;
}

TEST_F(Http, ReadOnlyUnknownPathsAndTraversal) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    Response r = request(http_, method, "/metrics");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_NE(r.head.find("Allow: GET, HEAD"), std::string::npos) << r.head;
  }
  for (const char* target : {"/index.html", "/../../etc/passwd", "/metrics/../api/hosts", "/%2e%2e/state.json",
                             "/127.0.0.11/console.log", "//metrics"})
    EXPECT_EQ(get(http_, target).status, 404) << target;
  EXPECT_EQ(get(http_, "/metrics?x=1").status, 200);
  Response body = request(http_, "GET", "/metrics", "Content-Length: 5\r\n\r\nhello");
  EXPECT_EQ(body.status, 400) << "a read-only side takes no body";
  TcpClient garbage(http_);
  garbage.send("\x16\x03\x01\x02\x00 not http at all\r\n\r\n");
  EXPECT_EQ(parse(garbage.read_to_close(15s)).status, 400);
  EXPECT_TRUE(garbage.closed());
}

TEST_F(Http, OversizedHeadersAreRefusedAndClosed) {
  TcpClient c(http_);
  c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 << 10, 'a') + "\r\n\r\n");
  Response r = parse(c.read_to_close(15s));
  EXPECT_EQ(r.status, 431) << r.head;
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(get(http_, "/metrics").status, 200) << "and the server goes on";
}

// Idle and trickling connections: the cap turns the surplus away at once, each is closed at
// its deadline, and meanwhile the daemon receives and writes as ever.
TEST_F(Http, SlowAndManyConnectionsAreBoundedAndNeverHoldUpReceiving) {
  std::vector<std::unique_ptr<TcpClient>> held;
  for (int i = 0; i < 32; ++i) {
    held.push_back(std::make_unique<TcpClient>(http_));
    held.back()->send("GET /metrics HTTP/1.1\r\nHost: x\r\n");  // and never the end of the header
  }
  ASSERT_TRUE(eventually([&] {
    Response busy = get(http_, "/metrics");
    return busy.status == 503;
  }, 5000ms)) << "the 33rd connection is turned away";
  UdpSender web("127.0.0.1", udp_, "127.0.0.13");
  web.send(ext(6, 1, 10, "received while HTTP is full"));
  ASSERT_TRUE(eventually([&] {
    return read_file(logs_.path() / "127.0.0.13" / "console.log").find("received while HTTP is full") !=
           std::string::npos;
  }, 5000ms));
  auto started = std::chrono::steady_clock::now();
  for (auto& c : held) {
    c->read_to_close(20s);
    EXPECT_TRUE(c->closed()) << "closed at the read deadline";
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  Response after = get(http_, "/metrics");
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.body.find("lastgasp_http_requests_refused_total{reason=\"busy\"} "), std::string::npos);
  EXPECT_EQ(after.body.find("lastgasp_http_requests_refused_total{reason=\"busy\"} 0\n"), std::string::npos);
}

TEST(HttpToken, OffLoopbackTheDaemonWillNotStartWithoutOne) {
  TempDir logs;
  std::uint16_t port = free_port();
  std::string out;
  int status = run_command({kReceiverBinary, "--config", "/dev/null", "--listen", "127.0.0.1:" + std::to_string(port),
                            "--log-dir", logs.path().string(), "--http", "0.0.0.0:" + std::to_string(free_port())},
                           out);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("is not on loopback: set http_token_file"), std::string::npos) << out;
}

TEST(HttpToken, OffLoopbackOnlyTheRightBearerTokenIsAnswered) {
  TempDir logs, scratch;
  std::uint16_t port = free_port(), http = free_port("0.0.0.0");
  std::ofstream(scratch.path() / "token") << "s3cret-token\n";
  std::ofstream(scratch.path() / "rx.toml") << "http_token_file = \"" << (scratch.path() / "token").string() << "\"\n";
  ReceiverProcess rx({"--config", (scratch.path() / "rx.toml").string(), "--listen", "127.0.0.1:" + std::to_string(port),
                      "--log-dir", logs.path().string(), "--http", "0.0.0.0:" + std::to_string(http)},
                     "for /, /metrics");
  Response none = get(http, "/metrics");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.head.find("WWW-Authenticate: Bearer"), std::string::npos) << none.head;
  EXPECT_EQ(none.body.find("lastgasp_"), std::string::npos);
  for (const char* wrong : {"Bearer s3cret-toke", "Bearer s3cret-token2", "Basic czNjcmV0LXRva2Vu", "Bearer ",
                            "s3cret-token"})
    EXPECT_EQ(request(http, "GET", "/api/hosts", std::string("Authorization: ") + wrong + "\r\n").status, 401) << wrong;
  Response right = request(http, "GET", "/metrics", "Authorization: Bearer s3cret-token\r\n");
  EXPECT_EQ(right.status, 200);
  EXPECT_NE(right.body.find("lastgasp_http_requests_refused_total{reason=\"unauthorized\"} 6\n"), std::string::npos)
      << right.body;
}

// Under the shipped units the service has no network: systemd holds the port and passes it
// named "http" (lastgasp-receiver-http.socket), and the daemon serves on that, not http_listen.
TEST(HttpSystemd, ServesOnTheSocketSystemdNamesHttp) {
  TempDir logs;
  std::uint16_t http = free_port();
  ReceiverProcess rx({"/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:" + std::to_string(http), "--fdname=http",
                      kReceiverBinary, "--config", "/dev/null", "--log-dir", logs.path().string(), "--http",
                      "127.0.0.1:1"},
                     "Listening on");  // the daemon starts at the first connection, and takes it
  Response r = get(http, "/metrics");
  EXPECT_EQ(r.status, 200) << rx.stderr_text();
  EXPECT_NE(r.body.find("lastgasp_build_info{version="), std::string::npos);
  EXPECT_NE(rx.stderr_text().find("listening on http 127.0.0.1:" + std::to_string(http)), std::string::npos)
      << rx.stderr_text();
}

TEST(HttpSystemd, APassedSocketOffLoopbackWithoutATokenStopsTheDaemon) {
  TempDir logs;
  std::uint16_t http = free_port("0.0.0.0");
  ReceiverProcess rx({"/usr/bin/systemd-socket-activate", "-l", "0.0.0.0:" + std::to_string(http), "--fdname=http",
                      kReceiverBinary, "--config", "/dev/null", "--log-dir", logs.path().string()},
                     "Listening on");
  EXPECT_NE(get(http, "/metrics").status, 200);
  ASSERT_TRUE(eventually([&] { return rx.stderr_text().find("is not on loopback") != std::string::npos; }))
      << rx.stderr_text();
  EXPECT_EQ(rx.stop(0), 1) << "it exits on its own, refusing (signal 0: no signal, only the wait)";
}

TEST(HttpOff, AnEmptyHttpListenOpensNoPort) {
  TempDir logs;
  std::uint16_t port = free_port(), http = free_port();
  ReceiverProcess rx({"--config", "/dev/null", "--listen", "127.0.0.1:" + std::to_string(port), "--log-dir",
                      logs.path().string(), "--http", ""});
  EXPECT_FALSE(TcpClient(http).connected());
  EXPECT_EQ(rx.stderr_text().find("/metrics"), std::string::npos) << rx.stderr_text();
}

}  // namespace
}  // namespace lastgasp::test
