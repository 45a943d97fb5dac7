// The receiver's HTTP side over TLS, against the real daemon with a certificate made by the
// openssl command at test time: curl and a real Prometheus as clients, `hosts` asking over
// HTTPS, peers that do not speak TLS or stall in the handshake, the event stream, systemd's
// socket, and the config's TLS errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "certificates.hpp"
#include "receiver_process.hpp"
#include "tcp_client.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

std::string ext(unsigned prio, std::uint64_t seq, const std::string& text) {
  return std::to_string(prio) + "," + std::to_string(seq) + "," + std::to_string(seq * 1000) + ",-;" + text + "\n";
}

// curl with ARGS, every exchange bounded; OUT gets what it printed and said.
int curl(const std::vector<std::string>& args, std::string& out) {
  std::vector<std::string> all{"/usr/bin/curl", "-sS", "--max-time", "10"};
  all.insert(all.end(), args.begin(), args.end());
  return run_command(all, out);
}

std::string config_text(const std::filesystem::path& logs, std::uint16_t udp, std::uint16_t http,
                        const std::filesystem::path& cert, const std::filesystem::path& key) {
  return "log_dir = \"" + logs.string() + "\"\nlisten = [\"127.0.0.1:" + std::to_string(udp) +
         "\"]\nhttp_listen = \"127.0.0.1:" + std::to_string(http) + "\"\nhttp_tls_cert_file = \"" + cert.string() +
         "\"\nhttp_tls_key_file = \"" + key.string() + "\"\n";
}

// A receiver serving HTTPS only, on loopback, with a self-signed certificate.
class Https : public ::testing::Test {
 protected:
  void SetUp() override {
    make_self_signed(pki(), "http");
    udp_ = free_port();
    http_ = free_port();
    config_ = scratch_.path() / "receiver.toml";
    std::ofstream(config_) << config_text(logs_.path(), udp_, http_, cert(), pki() / "http-key.pem") << extra_config();
    rx_ = std::make_unique<ReceiverProcess>(
        std::vector<std::string>{"--config", config_.string(), "--http", "127.0.0.1:" + std::to_string(http_)},
        "for /, /metrics");
  }
  virtual std::string extra_config() { return ""; }
  std::filesystem::path pki() const { return scratch_.path() / "pki"; }
  std::filesystem::path cert() const { return pki() / "http.pem"; }
  std::string url(const std::string& target) const { return "https://127.0.0.1:" + std::to_string(http_) + target; }
  std::string metrics() {
    std::string out;
    EXPECT_EQ(curl({"--cacert", cert().string(), url("/metrics")}, out), 0) << out;
    return out;
  }

  TempDir logs_, scratch_;
  std::filesystem::path config_;
  std::uint16_t udp_ = 0, http_ = 0;
  std::unique_ptr<ReceiverProcess> rx_;
};

TEST_F(Https, CurlGetsTheMetricsTrustingTheCertificateAndKeepsTheConnection) {
  std::string out;
  ASSERT_EQ(curl({"-v", "--cacert", cert().string(), url("/metrics"), url("/api/hosts")}, out), 0) << out;
  EXPECT_NE(out.find("SSL connection using TLSv1.3"), std::string::npos) << out;
  EXPECT_NE(out.find("lastgasp_build_info{version="), std::string::npos) << out;
  EXPECT_NE(out.find("Re-using existing connection"), std::string::npos) << "kept alive over TLS: " << out;
  EXPECT_NE(rx_->stderr_text().find("listening on http 127.0.0.1:" + std::to_string(http_) + " (HTTPS only)"),
            std::string::npos)
      << rx_->stderr_text();
  // The certificate is the only one trusted: curl with the system's CAs refuses it.
  EXPECT_NE(curl({url("/metrics")}, out), 0) << out;
  // TLS 1.2 too, but only with forward secrecy and an AEAD cipher: not CBC, which OpenSSL's
  // defaults would take.
  ASSERT_EQ(curl({"--cacert", cert().string(), "--tls-max", "1.2", "-w", "%{http_code}", "-o", "/dev/null",
                  url("/metrics")},
                 out),
            0)
      << out;
  EXPECT_EQ(out, "200");
  EXPECT_NE(curl({"--cacert", cert().string(), "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-SHA",
                  url("/metrics")},
                 out),
            0)
      << out;
}

// Neither gets an answer a client could mistake for HTTP, both are counted, and the daemon
// goes on serving.
TEST_F(Https, PlainHttpGetsNoBytesAndAGarbageHandshakeIsCounted) {
  TcpClient plain(http_);
  ASSERT_TRUE(plain.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(plain.read_to_close(5s), "");
  EXPECT_TRUE(plain.closed());
  TcpClient garbage(http_);
  ASSERT_TRUE(garbage.send(std::string("\x16\x03\x01\x00\x05hello", 10)));
  EXPECT_EQ(garbage.read_to_close(5s).find("HTTP/"), std::string::npos);
  EXPECT_TRUE(garbage.closed());
  std::string scrape = metrics();
  EXPECT_NE(scrape.find("lastgasp_http_requests_refused_total{reason=\"bad_request\"} 2\n"), std::string::npos)
      << scrape;
}

// Handshakes begun and never finished hold their slots only until the read deadline (10 s);
// past the cap, a connection is closed at once, without a plain-text 503 a TLS client could
// not read.
TEST_F(Https, StalledHandshakesAreBoundedByTheCapAndTheDeadline) {
  std::vector<std::unique_ptr<TcpClient>> held;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 32; ++i) {
    held.push_back(std::make_unique<TcpClient>(http_));
    ASSERT_TRUE(held.back()->send(std::string("\x16\x03\x01\x02\x00\x01", 6)));  // a ClientHello's first bytes
  }
  TcpClient surplus(http_);  // accepted after the 32, in the order they came
  EXPECT_EQ(surplus.read_to_close(5s), "");
  EXPECT_TRUE(surplus.closed()) << "turned away at once";
  for (auto& c : held) {
    c->read_to_close(20s);
    EXPECT_TRUE(c->closed()) << "closed at the deadline";
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  std::string scrape = metrics();
  EXPECT_NE(scrape.find("lastgasp_http_requests_refused_total{reason=\"busy\"} 1\n"), std::string::npos) << scrape;
  EXPECT_NE(scrape.find("lastgasp_http_requests_refused_total{reason=\"bad_request\"} 32\n"), std::string::npos)
      << scrape;
}

TEST_F(Https, EventsArriveOverTheStream) {
  ReceiverProcess stream({"/usr/bin/curl", "-sSvN", "--max-time", "30", "--cacert", cert().string(),
                          url("/api/stream?host=127.0.0.31")},
                         "< HTTP/1.1 200 OK");
  UdpSender web("127.0.0.1", udp_, "127.0.0.31");
  web.send(ext(6, 1, "hello over TLS"));
  web.send(ext(0, 2, "Kernel panic - not syncing: over TLS"));
  ASSERT_TRUE(eventually([&] { return stream.stderr_text().find("Kernel panic - not syncing: over TLS") != std::string::npos; },
                         5000ms))
      << stream.stderr_text();
  EXPECT_NE(stream.stderr_text().find("\"text\":\"hello over TLS\""), std::string::npos) << stream.stderr_text();
  EXPECT_NE(stream.stderr_text().find("id: "), std::string::npos);
}

// A client that reads too slowly is let go over TLS as over HTTP: its queue stays bounded,
// its stream is ended (with a close_notify), and the daemon goes on.
TEST_F(Https, ASlowStreamClientIsLetGo) {
  ReceiverProcess slow({"/usr/bin/curl", "-sSN", "--limit-rate", "1K", "-o", "/dev/null", "--cacert", cert().string(),
                        url("/api/stream")},
                       "");
  ASSERT_TRUE(eventually([&] { return metrics().find("lastgasp_http_streams 1\n") != std::string::npos; }, 5000ms));
  UdpSender web("127.0.0.1", udp_, "127.0.0.32");
  const std::string padding(1000, 'x');
  std::string scrape;
  bool dropped = false;
  for (int batch = 0; batch < 200 && !dropped; ++batch) {  // 20 MiB at most; the daemon holds 8 MiB of lines
    for (int i = 1; i <= 100; ++i) web.send(ext(6, batch * 100 + i, padding));
    ASSERT_TRUE(eventually([&] { return read_lines(logs_.path() / "127.0.0.32" / "console.log").size() ==
                                        static_cast<std::size_t>(batch + 1) * 100; }));
    scrape = metrics();
    dropped = scrape.find("lastgasp_http_streams_dropped_total{reason=\"too_slow\"} 1\n") != std::string::npos;
  }
  EXPECT_TRUE(dropped) << scrape;
  EXPECT_TRUE(eventually([&] { return metrics().find("lastgasp_http_streams 0\n") != std::string::npos; }));
}

// `hosts` asks the daemon over HTTPS, trusting the certificate file itself.
TEST_F(Https, HostsReadsLiveRowsOverTls) {
  UdpSender web("127.0.0.1", udp_, "127.0.0.33");
  web.send(ext(6, 1, "hello"));
  ASSERT_TRUE(eventually([&] { return !read_lines(logs_.path() / "127.0.0.33" / "console.log").empty(); }));
  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "--json", "--config", config_.string()}, out), 0) << out;
  EXPECT_EQ(out.find("lastgasp-receiver hosts:"), std::string::npos) << out;
  auto rows = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(rows.is_array() && rows.size() == 1) << out;
  EXPECT_EQ(rows[0]["host"], "127.0.0.33");
  EXPECT_EQ(rows[0]["records"], 1);
  EXPECT_FALSE(std::filesystem::exists(logs_.path() / "127.0.0.33" / "state.json")) << "so the rows were live";
}

// A certificate signed by a CA: `hosts` verifies the daemon against http_tls_ca_file, and says
// so when it does not verify, reading the files instead.
class HttpsWithCa : public Https {
 protected:
  void SetUp() override {
    make_certificates(pki());
    udp_ = free_port();
    http_ = free_port();
    config_ = scratch_.path() / "receiver.toml";
    std::ofstream(config_) << config_text(logs_.path(), udp_, http_, pki() / "cert.pem", pki() / "key.pem");
    rx_ = std::make_unique<ReceiverProcess>(std::vector<std::string>{"--config", config_.string(), "--http",
                                                                     "127.0.0.1:" + std::to_string(http_)},
                                            "for /, /metrics");
  }
  // `hosts --json` with the daemon's config and http_tls_ca_file = CA.
  int hosts_trusting(const std::string& ca, std::string& out) {
    std::filesystem::path cli = scratch_.path() / ("hosts-" + ca + ".toml");
    std::ofstream(cli) << read_file(config_) << "http_tls_ca_file = \"" << (pki() / ca).string() << "\"\n";
    return run_command({kReceiverBinary, "hosts", "--json", "--config", cli.string()}, out);
  }
};

TEST_F(HttpsWithCa, HostsVerifiesAgainstTheCaFileAndSaysWhenItFails) {
  UdpSender web("127.0.0.1", udp_, "127.0.0.34");
  web.send(ext(6, 1, "hello"));
  ASSERT_TRUE(eventually([&] { return !read_lines(logs_.path() / "127.0.0.34" / "console.log").empty(); }));
  std::string out;
  ASSERT_EQ(hosts_trusting("ca.pem", out), 0) << out;
  auto rows = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(rows.is_array() && rows.size() == 1) << out;
  EXPECT_EQ(rows[0]["records"], 1) << "live from the daemon";
  ASSERT_EQ(hosts_trusting("other-ca.pem", out), 0) << out;
  EXPECT_NE(out.find("lastgasp-receiver hosts: not asking the receiver at 127.0.0.1:" + std::to_string(http_) +
                     ": its certificate did not verify against http_tls_ca_file " + (pki() / "other-ca.pem").string() +
                     " (unable to get local issuer certificate); reading the state files"),
            std::string::npos)
      << out;
  EXPECT_TRUE(nlohmann::json::parse(out.substr(out.find('\n') + 1), nullptr, false).is_array())
      << "the rows of the state files: " << out;
  std::string scrape;
  EXPECT_TRUE(eventually([&] {
    curl({"--cacert", (pki() / "ca.pem").string(), url("/metrics")}, scrape);
    return scrape.find("lastgasp_http_requests_refused_total{reason=\"bad_request\"} 1\n") != std::string::npos;
  })) << "the handshake hosts gave up is counted: " << scrape;
}

// Debian's prometheus scrapes over HTTPS (scheme: https, the certificate as its CA) with the
// bearer token; its query API then has the host's panic count.
class HttpsWithToken : public Https {
 protected:
  std::string extra_config() override {
    std::ofstream(scratch_.path() / "token") << "s3cret-token\n";
    return "http_token_file = \"" + (scratch_.path() / "token").string() + "\"\n";
  }
};

TEST_F(HttpsWithToken, ARealPrometheusScrapesOverHttpsWithTheToken) {
  UdpSender web("127.0.0.1", udp_, "127.0.0.35");
  web.send(ext(6, 1, "hello"));
  web.send(ext(0, 2, "Kernel panic - not syncing: gone"));
  std::uint16_t prom = free_port();
  std::ofstream(scratch_.path() / "prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
         "scrape_configs:\n"
         "  - job_name: lastgasp\n"
         "    scheme: https\n"
         "    tls_config: {ca_file: '" << cert().string() << "'}\n"
         "    authorization: {credentials_file: '" << (scratch_.path() / "token").string() << "'}\n"
         "    static_configs: [{targets: ['127.0.0.1:" << http_ << "']}]\n";
  ReceiverProcess prometheus({"/usr/bin/prometheus", "--config.file=" + (scratch_.path() / "prometheus.yml").string(),
                              "--storage.tsdb.path=" + (scratch_.path() / "tsdb").string(),
                              "--web.listen-address=127.0.0.1:" + std::to_string(prom)},
                             "Server is ready to receive web requests");
  auto query = [&](const std::string& expression) {
    std::string out;
    curl({"http://127.0.0.1:" + std::to_string(prom) + "/api/v1/query?query=" + expression}, out);
    return nlohmann::json::parse(out, nullptr, false);
  };
  nlohmann::json answer;
  ASSERT_TRUE(eventually([&] {
    answer = query("lastgasp_host_panics_total%7Bhost%3D%22127.0.0.35%22%7D");
    return answer.is_object() && answer["data"]["result"].size() == 1 &&
           answer["data"]["result"][0]["value"][1] == "1";
  }, 20'000ms)) << answer << "\n" << prometheus.stderr_text();
  EXPECT_EQ(query("up")["data"]["result"][0]["value"][1], "1");
  std::string out;
  curl({"-w", "%{http_code}", "-o", "/dev/null", "--cacert", cert().string(), url("/metrics")}, out);
  EXPECT_EQ(out, "401") << "the token is asked for over TLS too";
}

// Under socket activation the passed socket speaks TLS as http_listen would.
TEST(HttpsSystemd, TheSocketSystemdPassesServesHttps) {
  TempDir logs, scratch;
  make_self_signed(scratch.path(), "http");
  std::uint16_t http = free_port();
  std::ofstream(scratch.path() / "rx.toml") << "http_tls_cert_file = \"" << (scratch.path() / "http.pem").string()
                                            << "\"\nhttp_tls_key_file = \""
                                            << (scratch.path() / "http-key.pem").string() << "\"\n";
  ReceiverProcess rx({"/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:" + std::to_string(http), "--fdname=http",
                      kReceiverBinary, "--config", (scratch.path() / "rx.toml").string(), "--log-dir",
                      logs.path().string(), "--http", "127.0.0.1:1"},
                     "Listening on");  // the daemon starts at the first connection, and takes it
  std::string out;
  ASSERT_EQ(curl({"--cacert", (scratch.path() / "http.pem").string(),
                  "https://127.0.0.1:" + std::to_string(http) + "/metrics"},
                 out),
            0)
      << out << rx.stderr_text();
  EXPECT_NE(out.find("lastgasp_build_info{version="), std::string::npos);
  EXPECT_NE(rx.stderr_text().find("listening on http 127.0.0.1:" + std::to_string(http) + " (HTTPS only)"),
            std::string::npos)
      << rx.stderr_text();
}

// What check-config and the daemon say of TLS settings they cannot use.
class HttpsConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    make_self_signed(scratch_.path(), "http");
    make_self_signed(scratch_.path(), "other");
  }
  std::filesystem::path file(const std::string& name) const { return scratch_.path() / name; }
  // check-config's status, and the daemon's, on a config of TEXT; OUT gets what each said.
  std::pair<int, int> refused(const std::string& text, std::string& check_out, std::string& daemon_out) {
    std::ofstream(file("rx.toml")) << "log_dir = \"" << logs_.path().string() << "\"\n" << text;
    int check = run_command({kReceiverBinary, "check-config", file("rx.toml").string()}, check_out);
    int daemon = run_command({kReceiverBinary, "--config", file("rx.toml").string(), "--listen",
                              "127.0.0.1:" + std::to_string(free_port()), "--http",
                              "127.0.0.1:" + std::to_string(free_port())},
                             daemon_out);
    return {check, daemon};
  }
  std::string key_is(const std::string& name) { return "http_tls_key_file = \"" + file(name).string() + "\"\n"; }
  std::string cert_is(const std::string& name) { return "http_tls_cert_file = \"" + file(name).string() + "\"\n"; }

  TempDir scratch_, logs_;
};

TEST_F(HttpsConfig, ACertificateWithoutItsKeyIsRefused) {
  std::string check, daemon;
  EXPECT_EQ(refused(cert_is("http.pem"), check, daemon), std::make_pair(2, 2));
  for (const std::string* out : {&check, &daemon})
    EXPECT_NE(out->find("key 'http_tls_cert_file': http_tls_cert_file and http_tls_key_file go together: set both for "
                        "HTTPS, or neither for HTTP"),
              std::string::npos)
        << *out;
  EXPECT_EQ(refused(key_is("http-key.pem"), check, daemon), std::make_pair(2, 2));
  EXPECT_NE(check.find("key 'http_tls_key_file': http_tls_cert_file and http_tls_key_file go together"),
            std::string::npos)
      << check;
  EXPECT_EQ(refused("http_tls_ca_file = \"" + file("http.pem").string() + "\"\n", check, daemon), std::make_pair(2, 2));
  EXPECT_NE(check.find("key 'http_tls_ca_file': only with http_tls_cert_file and http_tls_key_file"), std::string::npos)
      << check;
}

TEST_F(HttpsConfig, AKeyThatIsNotTheCertificatesIsRefused) {
  std::string check, daemon;
  EXPECT_EQ(refused(cert_is("http.pem") + key_is("other-key.pem"), check, daemon), std::make_pair(2, 1));
  const std::string says = "http_tls_key_file " + file("other-key.pem").string() +
                           ": not the private key of http_tls_cert_file " + file("http.pem").string() +
                           ": give the key the certificate was made with";
  EXPECT_NE(check.find(says), std::string::npos) << check;
  EXPECT_NE(daemon.find(says), std::string::npos) << daemon;
}

TEST_F(HttpsConfig, MissingOrWrongFilesAreRefusedWithWhatIsWrong) {
  std::string check, daemon;
  EXPECT_EQ(refused(cert_is("nowhere.pem") + key_is("http-key.pem"), check, daemon), std::make_pair(2, 1));
  for (const std::string* out : {&check, &daemon})
    EXPECT_NE(out->find("http_tls_cert_file " + file("nowhere.pem").string() + ": cannot open it: No such file or directory"),
              std::string::npos)
        << *out;
  EXPECT_EQ(refused(cert_is("http-key.pem") + key_is("http-key.pem"), check, daemon), std::make_pair(2, 1));
  EXPECT_NE(check.find("http_tls_cert_file " + file("http-key.pem").string() + ": no PEM certificate in it"),
            std::string::npos)
      << check;
  EXPECT_EQ(refused(cert_is("http.pem") + key_is("http.pem"), check, daemon), std::make_pair(2, 1));
  EXPECT_NE(check.find("http_tls_key_file " + file("http.pem").string() + ": no PEM private key in it"),
            std::string::npos)
      << check;
}

}  // namespace
}  // namespace lastgasp::test
