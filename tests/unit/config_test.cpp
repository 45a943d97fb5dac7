#include <gtest/gtest.h>

#include <fstream>

#include "endpoint.hpp"
#include "receiver_config.hpp"
#include "toml_reader.hpp"

namespace lastgasp::config {
namespace {

class ConfigFile : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  std::string error_of(const std::string& text) {
    try {
      load_receiver_config(write(text));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  std::filesystem::path path_ = std::filesystem::temp_directory_path() /
                                ("lastgasp-config-" + std::to_string(::getpid()) + ".toml");
  void TearDown() override { std::filesystem::remove(path_); }
};

TEST_F(ConfigFile, EveryKeyIsRead) {
  auto cfg = load_receiver_config(write(R"(
listen = ["127.0.0.1:7000", "[::1]:7001"]
log_dir = "/tmp/x"
receive_buffer = "16M"
reorder_window_ms = 50
fragment_timeout_ms = 60
legacy_line_timeout_ms = 70
flush_interval_ms = 10
incident_context = 50
incident_quiet_s = 5
incident_burst = 3
incident_refill_s = 120
incident_max_size = "1M"
stream_idle_s = 60
reassembly_stream_cap = "512K"
reassembly_host_cap = "1M"
max_streams_per_host = 16
new_hosts_per_second = 20
new_hosts_burst = 500
reassembly_global_cap = "128M"
max_open_files = 256
max_hosts = 1000
journal = true
rotate_size = "1M"
rotate_keep = 3
silent_after_s = 30
allow = ["10.0.0.0/8", "fd00::/8", "192.0.2.7"]
max_upload = "1M"
[hosts]
"10.0.0.5" = "web1"
"fd00::7" = "db1"
)"));
  EXPECT_EQ(cfg.listen, (std::vector<std::string>{"127.0.0.1:7000", "[::1]:7001"}));
  EXPECT_EQ(cfg.log_dir, "/tmp/x");
  EXPECT_EQ(cfg.receive_buffer, 16u << 20);
  EXPECT_EQ(cfg.reorder_window.count(), 50);
  EXPECT_EQ(cfg.fragment_timeout.count(), 60);
  EXPECT_EQ(cfg.legacy_line_timeout.count(), 70);
  EXPECT_EQ(cfg.flush_interval.count(), 10);
  EXPECT_EQ(cfg.incident_context, 50u);
  EXPECT_EQ(cfg.incident_quiet.count(), 5);
  EXPECT_EQ(cfg.incident_burst, 3u);
  EXPECT_EQ(cfg.incident_refill.count(), 120);
  EXPECT_EQ(cfg.incident_max_size, 1u << 20);
  EXPECT_EQ(cfg.stream_idle.count(), 60);
  EXPECT_EQ(cfg.reassembly_stream_cap, 512u << 10);
  EXPECT_EQ(cfg.reassembly_host_cap, 1u << 20);
  EXPECT_EQ(cfg.max_streams_per_host, 16u);
  EXPECT_EQ(cfg.new_hosts_per_second, 20u);
  EXPECT_EQ(cfg.new_hosts_burst, 500u);
  EXPECT_EQ(cfg.reassembly_global_cap, 128u << 20);
  EXPECT_EQ(cfg.max_open_files, 256u);
  EXPECT_EQ(cfg.max_hosts, 1000u);
  EXPECT_TRUE(cfg.journal);
  EXPECT_EQ(cfg.rotate_size, 1u << 20);
  EXPECT_EQ(cfg.rotate_keep, 3u);
  EXPECT_EQ(cfg.silent_after.count(), 30);
  EXPECT_EQ(cfg.allow, (std::vector<std::string>{"10.0.0.0/8", "fd00::/8", "192.0.2.7"}));
  EXPECT_EQ(cfg.max_upload, 1u << 20);
  EXPECT_EQ(cfg.hosts.at("10.0.0.5"), "web1");
  EXPECT_EQ(cfg.hosts.at("fd00::7"), "db1");
}

TEST_F(ConfigFile, ForwardTablesAreReadWithTheirDefaults) {
  auto cfg = load_receiver_config(write(R"(
spool_dir = "/srv/spool"
[[forward]]
to = "logs.example"
[[forward]]
name = "siem"
to = "[fd00::9]:7514"
protocol = "tls"
ca_file = "/etc/ca.pem"
cert_file = "/etc/me.pem"
key_file = "/etc/me.key"
hosts = "db-*"
min_level = "err"
events_only = true
queue_memory = "1M"
spool_size = "2G"
)"));
  EXPECT_EQ(cfg.spool_dir, "/srv/spool");
  ASSERT_EQ(cfg.forwards.size(), 2u);
  const Forward& plain = cfg.forwards[0];
  EXPECT_EQ(plain.name, "forward-1");
  EXPECT_EQ(plain.protocol, Forward::Protocol::tcp);
  EXPECT_EQ(plain.host, "logs.example");
  EXPECT_EQ(plain.port, 514);
  EXPECT_EQ(plain.max_level, 7u);
  EXPECT_EQ(plain.hosts, "*");
  const Forward& siem = cfg.forwards[1];
  EXPECT_EQ(siem.name, "siem");
  EXPECT_EQ(siem.protocol, Forward::Protocol::tls);
  EXPECT_EQ(siem.host, "fd00::9");
  EXPECT_EQ(siem.port, 7514);
  EXPECT_EQ(siem.ca_file, "/etc/ca.pem");
  EXPECT_EQ(siem.cert_file, "/etc/me.pem");
  EXPECT_EQ(siem.key_file, "/etc/me.key");
  EXPECT_EQ(siem.hosts, "db-*");
  EXPECT_EQ(siem.max_level, 3u);
  EXPECT_TRUE(siem.events_only);
  EXPECT_EQ(siem.queue_memory, 1u << 20);
  EXPECT_EQ(siem.spool_size, 2ull << 30);
  EXPECT_EQ(load_receiver_config(write("[[forward]]\nto = \"h\"\nprotocol = \"tls\"\nca_file = \"/c\"\n"))
                .forwards[0].port, 6514);
  const Forward relp = load_receiver_config(write("[[forward]]\nto = \"h\"\nprotocol = \"relp\"\n")).forwards[0];
  EXPECT_EQ(relp.protocol, Forward::Protocol::relp);
  EXPECT_EQ(relp.port, 20514);
  const Forward relp_tls = load_receiver_config(write("[[forward]]\nto = \"h:20515\"\nprotocol = \"relp-tls\"\n"
                                                      "ca_file = \"/c\"\ncert_file = \"/m\"\nkey_file = \"/k\"\n"))
                               .forwards[0];
  EXPECT_EQ(relp_tls.protocol, Forward::Protocol::relp_tls);
  EXPECT_EQ(relp_tls.port, 20515);
}

TEST_F(ConfigFile, ForwardTablesSayWhatIsWrong) {
  std::string file = path_.string();
  EXPECT_EQ(error_of("[[forward]]\nname = \"x\"\n"), file + ":1:1: key 'forward[0].to': missing: the destination as HOST:PORT");
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nname = \"../etc\"\n").find("it names a directory"), std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nprotocol = \"udp\"\n")
                .find("expected \"tcp\", \"tls\", \"relp\" or \"relp-tls\""),
            std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nprotocol = \"relp-tls\"\nca_file = \"/c\"\n")
                .find("key 'forward[0].cert_file': missing"),
            std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nprotocol = \"relp\"\nca_file = \"/c\"\n")
                .find("only for protocol = \"tls\" or \"relp-tls\""),
            std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nprotocol = \"tls\"\n").find("key 'forward[0].ca_file': missing"),
            std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nmin_level = \"loud\"\n").find("expected emerg"), std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nport = 5\n").find("key 'forward[0].port': unknown key"),
            std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"a\"\n[[forward]]\nto = \"b\"\nname = \"forward-1\"\n")
                .find("another [[forward]] has this name"),
            std::string::npos);
  EXPECT_NE(error_of("[[forward]]\nto = \"h\"\nprotocol = \"tls\"\nca_file = \"/c\"\ncert_file = \"/x\"\n")
                .find("cert_file and key_file go together"),
            std::string::npos);
}

TEST_F(ConfigFile, HookTablesAreRead) {
  auto cfg = load_receiver_config(write(R"([[hook]]
on = ["panic"]
program = "/bin/true"

[[hook]]
name = "page"
on = ["incident", "silent", "reboot", "pstore"]
program = "/bin/sh"
args = ["-c", 'echo "$LASTGASP_HOST"']
hosts = "db*"
timeout_s = 5
concurrency = 4
queue = 0
max_per_minute = 120
)"));
  ASSERT_EQ(cfg.hooks.size(), 2u);
  const Hook& plain = cfg.hooks[0];
  EXPECT_EQ(plain.name, "hook-1");
  EXPECT_TRUE(plain.runs_on(HookOn::panic));
  EXPECT_FALSE(plain.runs_on(HookOn::incident));
  EXPECT_EQ(plain.program, "/bin/true");
  EXPECT_TRUE(plain.args.empty());
  EXPECT_EQ(plain.hosts, "*");
  EXPECT_EQ(plain.timeout, std::chrono::seconds(30));
  EXPECT_EQ(plain.concurrency, 1u);
  EXPECT_EQ(plain.queue, 16u);
  EXPECT_EQ(plain.max_per_minute, 10u);
  const Hook& page = cfg.hooks[1];
  EXPECT_EQ(page.name, "page");
  EXPECT_FALSE(page.runs_on(HookOn::panic));
  for (HookOn e : {HookOn::incident, HookOn::silent, HookOn::reboot, HookOn::pstore}) EXPECT_TRUE(page.runs_on(e));
  EXPECT_EQ(page.args, (std::vector<std::string>{"-c", "echo \"$LASTGASP_HOST\""}));
  EXPECT_EQ(page.hosts, "db*");
  EXPECT_EQ(page.timeout, std::chrono::seconds(5));
  EXPECT_EQ(page.concurrency, 4u);
  EXPECT_EQ(page.queue, 0u);
  EXPECT_EQ(page.max_per_minute, 120u);
}

TEST_F(ConfigFile, HookTablesSayWhichTableAndKeyIsWrong) {
  std::string file = path_.string();
  EXPECT_EQ(error_of("[[hook]]\nprogram = \"/bin/true\"\n"),
            file + ":1:1: key 'hook[0].on': missing: one or more of \"panic\", \"incident\", \"silent\", "
                   "\"reboot\", \"pstore\"");
  EXPECT_EQ(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\n[[hook]]\non = [\"boom\"]\n"),
            file + ":5:6: key 'hook[1].on': expected \"panic\", \"incident\", \"silent\", \"reboot\" or \"pstore\"");
  EXPECT_NE(error_of("[[hook]]\non = []\nprogram = \"/bin/true\"\n").find("key 'hook[0].on': missing"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\n").find("key 'hook[0].program': missing"), std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"true\"\n").find("key 'hook[0].program': expected an absolute path"),
            std::string::npos);
  std::filesystem::permissions(path_, std::filesystem::perms(0644));  // this file itself: not executable
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"" + file + "\"\n")
                .find("key 'hook[0].program': not an executable file"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/nonexistent/hook\"\n")
                .find("key 'hook[0].program': not an executable file"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\nargs = \"-x\"\n")
                .find("key 'hook[0].args': expected an array of strings"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\nargs = [\"a\\u0000b\"]\n")
                .find("key 'hook[0].args': an argument cannot hold a NUL byte"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\ntimeout_s = 0\n")
                .find("key 'hook[0].timeout_s': must be between 1 and 3600"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\nconcurrency = 65\n")
                .find("key 'hook[0].concurrency': must be between 1 and 64"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\nmax_per_minute = 0\n")
                .find("key 'hook[0].max_per_minute'"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\nhosts = \"\"\n")
                .find("key 'hook[0].hosts': must not be empty"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\ntimeout = 5\n")
                .find("key 'hook[0].timeout': unknown key"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\nname = \"a b\"\n")
                .find("key 'hook[0].name'"),
            std::string::npos);
  EXPECT_NE(error_of("[[hook]]\non = [\"panic\"]\nprogram = \"/bin/true\"\n[[hook]]\non = [\"panic\"]\n"
                     "program = \"/bin/true\"\nname = \"hook-1\"\n")
                .find("key 'hook[1].name': another [[hook]] has this name"),
            std::string::npos);
}

TEST_F(ConfigFile, ErrorsNameFileLineColumnAndKey) {
  std::string file = path_.string();
  EXPECT_EQ(error_of("log_dir = \"/x\"\nlisten_port = 5\n"), file + ":2:1: key 'listen_port': unknown key");
  EXPECT_EQ(error_of("\nreorder_window_ms = \"soon\"\n"), file + ":2:21: key 'reorder_window_ms': expected an integer");
  EXPECT_EQ(error_of("flush_interval_ms = 0\n"), file + ":1:21: key 'flush_interval_ms': must be between 1 and 1000");
  EXPECT_EQ(error_of("listen = [\"10.0.0.1\"]\n"), file + ":1:10: key 'listen': '10.0.0.1': missing ':PORT'");
  EXPECT_EQ(error_of("[hosts]\n\"web\" = \"x\"\n"), file + ":2:9: key 'hosts.web': expected an IP address as the key");
  EXPECT_EQ(error_of("receive_buffer = \"lots\"\n"),
            file + ":1:18: key 'receive_buffer': expected a size in bytes, such as 8388608 or \"8M\"");
  EXPECT_EQ(error_of("allow = [\"10.0.0.0/33\"]\n"), file + ":1:9: key 'allow': '10.0.0.0/33': the prefix length must be 0 to 32");
  EXPECT_NE(error_of("listen = [\n"), "");
  EXPECT_TRUE(error_of("listen = [\n").starts_with(file + ":"));
}

TEST(Endpoint, ParsesV4V6AndNames) {
  std::string error;
  auto a = parse_host_port("[fd00::1]:6000", std::nullopt, error);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "fd00::1");
  EXPECT_EQ(a->port, 6000);
  auto b = parse_host_port("logs.example.org", 6666, error);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 6666);
  // A bare IPv6 address takes the default port: its last group is never read as a port.
  auto c = parse_host_port("fd00::1:6000", 6666, error);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "fd00::1:6000");
  EXPECT_EQ(c->port, 6666);
  EXPECT_FALSE(c->bracketed);
  EXPECT_FALSE(parse_host_port("fd00::1", std::nullopt, error));
  EXPECT_NE(error.find("[ADDR]:PORT"), std::string::npos) << error;
  EXPECT_FALSE(parse_host_port("10.0.0.1:70000", 6666, error));
  EXPECT_FALSE(parse_host_port("10.0.0.1:", 6666, error));
  EXPECT_FALSE(parse_host_port("[fd00::1", 6666, error));
  EXPECT_EQ(format_host_port("::1", 6666), "[::1]:6666");
}

}  // namespace
}  // namespace lastgasp::config
