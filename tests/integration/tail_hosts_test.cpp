// `tail` and `hosts` as a user runs them: against logs on disk, and live
// against the real daemon fed over UDP.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include <fstream>
#include <nlohmann/json.hpp>

#include "netconsole_record.hpp"
#include "receiver_process.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

std::string line(const std::string& time, const std::string& level, const std::string& seq, const std::string& text,
                 const std::string& fields = "") {
  std::string ktime = level == "lastgasp" ? "-" : "[    1.000000]";
  return "2026-11-25T" + time + "Z\t" + level + "\t" + seq + "\t" + ktime + "\t" + text + (fields.empty() ? "" : "\t" + fields) + "\n";
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) out.push_back(text.substr(start, nl - start));
  return out;
}

class Tail : public ::testing::Test {
 protected:
  void SetUp() override {
    write("web1", line("10:00:01.000000", "kern.info", "1", "web1 first") + line("10:00:03.000000", "kern.err", "2", "web1 error") +
                      line("10:00:05.000000", "lastgasp", "-", "lastgasp: lost 2 messages (seq 3-4)"));
    write("web2", line("10:00:02.000000", "kern.warn", "7", "web2 warning") +
                      line("10:00:04.000000", "kern.emerg", "8", "Kernel panic - not syncing: web2 dies", "host=web-two cpu=1"));
    write("db1", line("10:00:06.000000", "user.info", "1", "db1 \x1b[31mred\x1b]0;title\x07 \xc2\x9b" "csi \xff end"));
  }
  void write(const std::string& host, const std::string& text) {
    std::filesystem::create_directories(logs_.path() / host);
    std::ofstream(logs_.path() / host / "console.log", std::ios::app) << text;
  }
  std::vector<std::string> tail(std::vector<std::string> args) {
    args.insert(args.begin(), {kReceiverBinary, "tail", "--log-dir", logs_.path().string()});  // stdout is no tty: no colour
    std::string out;
    EXPECT_EQ(run_command(args, out), 0) << out;
    return split_lines(out);
  }
  TempDir logs_;
};

TEST_F(Tail, LastNAcrossHostsMergedByReceiveTime) {
  auto out = tail({"-n", "4"});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_NE(out[0].find("web1 error"), std::string::npos) << out[0];
  EXPECT_NE(out[1].find(" web2 kern.emerg [    1.000000] Kernel panic"), std::string::npos)
      << "host prefix when several hosts: " << out[1];
  EXPECT_NE(out[2].find("web1 lastgasp lastgasp: lost 2 messages"), std::string::npos) << out[2];
  EXPECT_NE(out[3].find("db1 user.info"), std::string::npos) << out[3];
}

TEST_F(Tail, HostGlobsLevelGrepAndSince) {
  auto web = tail({"-n", "100", "--host", "web*"});
  EXPECT_EQ(web.size(), 5u);
  auto one = tail({"-n", "100", "--host", "web2"});
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].find("web2 kern"), std::string::npos) << "no host prefix for a single host: " << one[0];
  auto errs = tail({"-n", "100", "--level", "err+"});
  ASSERT_EQ(errs.size(), 3u) << "err, emerg, and the receiver's own gap line";
  auto warn = tail({"-n", "100", "-p", "warning..warning"});
  ASSERT_EQ(warn.size(), 2u);
  EXPECT_NE(warn[0].find("web2 warning"), std::string::npos);
  auto grep = tail({"-n", "100", "--grep", "panic|error"});
  EXPECT_EQ(grep.size(), 2u);
  auto since = tail({"--since", "2026-11-25T10:00:04Z"});
  EXPECT_EQ(since.size(), 3u) << "with --since and no -n: everything since";
  auto none = tail({"--since", "1m"});
  EXPECT_EQ(none.size(), 0u);
}

TEST_F(Tail, JournalctlsFormsOfPriorityGrepAndTime) {
  EXPECT_EQ(tail({"-n", "100", "-p", "3"}).size(), 3u) << "err and more severe, and the gap line";
  auto range = tail({"-n", "100", "-p", "warning..err"});
  ASSERT_EQ(range.size(), 3u);
  EXPECT_NE(range[0].find("web2 warning"), std::string::npos) << range[0];
  EXPECT_NE(range[1].find("web1 error"), std::string::npos) << range[1];
  EXPECT_EQ(tail({"-n", "100", "-g", "kernel PANIC"}).size(), 0u) << "an upper-case letter: case-sensitive";
  EXPECT_EQ(tail({"-n", "100", "-g", "kernel panic"}).size(), 1u) << "all lower case: case-insensitive";
  EXPECT_EQ(tail({"-n", "100", "-g", "kernel PANIC", "-i"}).size(), 1u);
  EXPECT_EQ(tail({"-n", "100", "-g", "kernel panic", "--case-sensitive"}).size(), 0u);
  EXPECT_EQ(tail({"-n", "100", "-g", "KERNEL panic", "--case-sensitive=no"}).size(), 1u);
  // Local time unless a zone is given: the same instant three ways.
  ::setenv("TZ", "XET-2", 1);
  auto local = tail({"-S", "2026-11-25 12:00:04"});
  ::unsetenv("TZ");
  EXPECT_EQ(local.size(), 3u) << "12:00:04 two hours east is 10:00:04Z";
  EXPECT_EQ(tail({"-S", "2026-11-25 11:00:04 +01:00"}).size(), 3u);
  EXPECT_EQ(tail({"--since", "2026-11-25 10:00:04 UTC"}).size(), 3u);
  auto window = tail({"-S", "2026-11-25T10:00:02Z", "-U", "2026-11-25 10:00:04Z"});
  ASSERT_EQ(window.size(), 3u);
  EXPECT_NE(window[0].find("web2 warning"), std::string::npos) << window[0];
  EXPECT_EQ(tail({"-S", "yesterday"}).size(), 0u) << "the logs are from a week before the machine's today";
  EXPECT_EQ(tail({"-S", "2026-11-25", "-U", "1h ago", "--no-pager"}).size(), 6u);
}

TEST_F(Tail, BadTimesAndPrioritiesAreRefusedSayingWhichOption) {
  std::string out;
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kReceiverBinary, "tail", "--log-dir", logs_.path().string()});
    return run_command(args, out);
  };
  EXPECT_EQ(run({"-S", "soon"}), 2);
  EXPECT_NE(out.find("--since 'soon'"), std::string::npos) << out;
  EXPECT_EQ(run({"-U", "2026-11-25 25:00"}), 2);
  EXPECT_NE(out.find("--until"), std::string::npos) << out;
  EXPECT_EQ(run({"-p", "fatal"}), 2);
  EXPECT_NE(out.find("--priority 'fatal'"), std::string::npos) << out;
  EXPECT_EQ(run({"-g", "x", "--case-sensitive=maybe"}), 2);
  EXPECT_NE(out.find("yes or no"), std::string::npos) << out;
}

// A log directory the user may not read: an error that names it and the group to join,
// and a failure, never an empty listing that looks like "no hosts".
TEST_F(Tail, AnUnreadableLogDirectoryIsAnErrorWithTheGroupToJoin) {
  std::filesystem::permissions(logs_.path(), std::filesystem::perms::owner_all);
  std::vector<std::string> as_other;
  if (::geteuid() == 0) as_other = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  else std::filesystem::permissions(logs_.path(), std::filesystem::perms::none);
  for (const char* command : {"tail", "hosts"}) {
    std::vector<std::string> args = as_other;
    args.insert(args.end(), {kReceiverBinary, command, "--log-dir", logs_.path().string()});
    std::string out;
    EXPECT_EQ(run_command(args, out), 2) << command << ": " << out;
    EXPECT_NE(out.find("cannot read " + logs_.path().string() + ": Permission denied"), std::string::npos) << out;
    EXPECT_NE(out.find("usermod -aG lastgasp"), std::string::npos) << out;
  }
  std::filesystem::permissions(logs_.path(), std::filesystem::perms::owner_all);
  std::string out;
  EXPECT_EQ(run_command({kReceiverBinary, "tail", "--log-dir", (logs_.path() / "absent").string()}, out), 2);
  EXPECT_NE(out.find("No such file or directory"), std::string::npos) << out;
}

TEST_F(Tail, JsonHasTheDocumentedKeys) {
  auto out = tail({"-n", "3", "-o", "json"});
  ASSERT_EQ(out.size(), 3u);
  auto panic = nlohmann::json::parse(out[0]);
  EXPECT_EQ(panic["host"], "web2");
  EXPECT_EQ(panic["recv_time"], "2026-11-25T10:00:04.000000Z");
  EXPECT_EQ(panic["level"], "emerg");
  EXPECT_EQ(panic["facility"], "kern");
  EXPECT_EQ(panic["seq"], 8);
  EXPECT_EQ(panic["ktime_usec"], 1000000);
  EXPECT_EQ(panic["text"], "Kernel panic - not syncing: web2 dies");
  EXPECT_EQ(panic["fields"], (nlohmann::json{{"host", "web-two"}, {"cpu", "1"}}));
  EXPECT_TRUE(panic["event"].is_null());
  auto gap = nlohmann::json::parse(out[1]);
  EXPECT_EQ(gap["event"], "gap");
  EXPECT_TRUE(gap["level"].is_null());
  EXPECT_TRUE(gap["seq"].is_null());
}

// The time zone of the commands run in a scope: theirs is local time, as journalctl's.
class LocalTime {
 public:
  explicit LocalTime(const char* tz) { ::setenv("TZ", tz, 1); }
  ~LocalTime() { ::unsetenv("TZ"); }
};

TEST_F(Tail, OutputModesAreJournalctls) {
  write("web3", line("10:00:07.123456", "kern.notice", "3", "web3 precise"));
  LocalTime zone("XET-2");  // two hours east: 10:00Z is 12:00 here
  auto one = [&](const std::string& host, const std::string& mode) {
    auto out = tail({"-n", "1", "--host", host, "-o", mode});
    EXPECT_EQ(out.size(), 1u) << mode;
    return out.empty() ? std::string() : out[0];
  };
  EXPECT_EQ(one("web2", "short"), "Nov 25 12:00:04 kern.emerg [    1.000000] Kernel panic - not syncing: web2 dies");
  EXPECT_EQ(one("web2", "short-iso"), "2026-11-25T12:00:04+02:00 kern.emerg [    1.000000] Kernel panic - not syncing: web2 dies");
  EXPECT_EQ(one("web3", "short-precise"), "Nov 25 12:00:07.123456 kern.notice [    1.000000] web3 precise");
  EXPECT_EQ(one("web3", "short-iso-precise"), "2026-11-25T12:00:07.123456+02:00 kern.notice [    1.000000] web3 precise");
  EXPECT_EQ(one("web2", "cat"), "Kernel panic - not syncing: web2 dies");
  EXPECT_EQ(one("web1", "cat"), "lastgasp: lost 2 messages (seq 3-4)") << "the receiver's own lines: their text too";
  auto several = tail({"-n", "2", "-o", "short"});
  ASSERT_EQ(several.size(), 2u);
  EXPECT_EQ(several[0], "Nov 25 12:00:06 db1 user.info [    1.000000] db1 \\x1b[31mred\\x1b]0;title\\x07 \\xc2\\x9bcsi \\xff end")
      << "the host after the time when several are shown";
  // short-iso's time is one --since takes back: from that record on.
  std::string iso = one("web2", "short-iso").substr(0, 25);
  EXPECT_EQ(tail({"-S", iso}).size(), 4u) << iso;

  // json-pretty: the object json prints, over several lines.
  auto compact = tail({"-n", "1", "--host", "web2", "-o", "json"});
  ASSERT_EQ(compact.size(), 1u);
  auto pretty = tail({"-n", "1", "--host", "web2", "-o", "json-pretty"});
  ASSERT_GT(pretty.size(), 5u);
  std::string joined;
  for (const std::string& l : pretty) joined += l + "\n";
  EXPECT_EQ(nlohmann::json::parse(joined), nlohmann::json::parse(compact[0])) << joined;
}

TEST_F(Tail, ReverseIsNewestFirstAndNotWithFollow) {
  auto newest = tail({"-r", "-n", "3", "--color", "never"});
  ASSERT_EQ(newest.size(), 3u);
  EXPECT_NE(newest[0].find("db1 user.info"), std::string::npos) << newest[0];
  EXPECT_NE(newest[1].find("lastgasp: lost 2 messages"), std::string::npos) << newest[1];
  EXPECT_NE(newest[2].find("Kernel panic"), std::string::npos) << newest[2];
  auto all = tail({"--reverse", "-o", "cat"});
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all.back(), "web1 first") << "the oldest last";
  std::string out;
  EXPECT_EQ(run_command({kReceiverBinary, "tail", "--log-dir", logs_.path().string(), "-r", "-f"}, out), 2);
  EXPECT_NE(out.find("lastgasp-receiver tail: --reverse and --follow do not go together"), std::string::npos) << out;
}

TEST_F(Tail, ControlCharactersNeverReachTheTerminalRaw) {
  auto out = tail({"-n", "1"});
  ASSERT_EQ(out.size(), 1u);
  for (char c : out[0]) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << out[0];
  EXPECT_NE(out[0].find("db1 \\x1b[31mred\\x1b]0;title\\x07 \\xc2\\x9bcsi \\xff end"), std::string::npos) << out[0];
  auto colored = tail({"-n", "1", "--color", "always"});
  EXPECT_NE(colored[0].find("\x1b["), std::string::npos) << "--color always colours";
}

TEST_F(Tail, RotatedFilesGiveOlderHistory) {
  std::filesystem::rename(logs_.path() / "web1" / "console.log", logs_.path() / "web1" / "console.log.1");
  write("web1", line("10:00:09.000000", "kern.info", "5", "web1 after rotation"));
  auto out = tail({"-n", "3", "--host", "web1"});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NE(out[0].find("web1 error"), std::string::npos);
  EXPECT_NE(out[2].find("after rotation"), std::string::npos);
}

TEST_F(Tail, FollowSeesNewLinesRotationAndNewHosts) {
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--listen", "127.0.0.1:" + std::to_string(port), "--log-dir", logs_.path().string()});
  UdpSender first("127.0.0.1", port, "127.0.0.7");
  first.send(ext(6, 1, 10, "before the tail starts"));
  ASSERT_TRUE(eventually([&] { return read_file(logs_.path() / "127.0.0.7" / "console.log").find("before the tail") != std::string::npos; }));
  ReceiverProcess follow({kReceiverBinary, "tail", "-f", "-n", "1", "--host", "127.0.0.*", "--log-dir",
                          logs_.path().string(), "--color", "never"},
                         "before the tail starts");
  first.send(ext(6, 2, 20, "live line one"));
  ASSERT_TRUE(eventually([&] { return follow.stderr_text().find("live line one") != std::string::npos; }))
      << follow.stderr_text();
  // Rotation by hand, as logrotate would do without copytruncate, then SIGHUP.
  std::filesystem::rename(logs_.path() / "127.0.0.7" / "console.log", logs_.path() / "127.0.0.7" / "console.log.1");
  rx.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return rx.stderr_text().find("SIGHUP") != std::string::npos; }));
  first.send(ext(6, 3, 30, "after the rotation"));
  UdpSender second("127.0.0.1", port, "127.0.0.8");
  second.send(ext(6, 1, 10, "a host that appeared later"));
  ASSERT_TRUE(eventually([&] {
    auto text = follow.stderr_text();
    return text.find("after the rotation") != std::string::npos && text.find("appeared later") != std::string::npos;
  })) << follow.stderr_text();
  EXPECT_TRUE(std::filesystem::exists(logs_.path() / "127.0.0.7" / "console.log"));
  follow.stop(SIGTERM);
}

TEST(Hosts, StatesCountsAndSelfNamesFromTheDaemonsStateFiles) {
  TempDir logs;
  std::uint16_t port = free_port();
  ReceiverProcess rx({"--listen", "127.0.0.1:" + std::to_string(port), "--log-dir", logs.path().string()});
  UdpSender quiet("127.0.0.1", port, "127.0.0.11"), dead("127.0.0.1", port, "127.0.0.12");
  quiet.send(ext(6, 1, 10, "hello", " host=quiet-box\n"));
  dead.send(ext(6, 1, 10, "hello"));
  dead.send(ext(6, 4, 40, "after a gap"));
  dead.send(ext(0, 5, 50, "Kernel panic - not syncing: gone"));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(logs.path() / "127.0.0.12" / "state.json"); }, 5000ms));
  EXPECT_EQ(rx.stop(SIGTERM), 0);
  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "--log-dir", logs.path().string(), "--json"}, out), 0) << out;
  auto rows = nlohmann::json::parse(out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["host"], "127.0.0.11");
  EXPECT_EQ(rows[0]["state"], "live");
  EXPECT_EQ(rows[0]["self_name"], "quiet-box");
  EXPECT_EQ(rows[0]["records"], 1);
  EXPECT_EQ(rows[1]["state"], "panicked");
  EXPECT_EQ(rows[1]["records"], 3);
  EXPECT_EQ(rows[1]["gaps"], 1);
  EXPECT_EQ(rows[1]["lost"], 2);
  EXPECT_EQ(rows[1]["panics"], 1);
  EXPECT_EQ(rows[1]["boots"], 1);
  std::vector<std::string> table;
  ASSERT_TRUE(eventually([&] {  // once a second has passed since its last record
    EXPECT_EQ(run_command({kReceiverBinary, "hosts", "--log-dir", logs.path().string(), "--silent-after", "1"}, out), 0);
    table = split_lines(out);
    return table.size() == 3u && table[1].find("silent") != std::string::npos;
  }, 5000ms)) << out;
  EXPECT_NE(table[1].find("quiet-box"), std::string::npos) << table[1];
  EXPECT_NE(table[2].find("panicked"), std::string::npos) << table[2];

  // A host with a full-length IPv6 name (":" as "_"): the columns widen to it and stay aligned.
  const std::string long_host = "2001_db8_aaaa_bbbb_cccc_dddd_eeee_ffff";
  std::filesystem::copy(logs.path() / "127.0.0.12", logs.path() / long_host, std::filesystem::copy_options::recursive);
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "-o", "short", "--log-dir", logs.path().string()}, out), 0);
  table = split_lines(out);
  ASSERT_EQ(table.size(), 4u) << out;
  std::size_t state_at = table[0].find("STATE"), boots_end = table[0].find("BOOTS") + 5;
  ASSERT_GT(state_at, long_host.size()) << table[0];
  for (std::size_t i = 1; i < table.size(); ++i) {
    EXPECT_EQ(table[i][state_at - 1], ' ') << table[i];
    EXPECT_TRUE(table[i].compare(state_at, 4, "live") == 0 || table[i].compare(state_at, 6, "silent") == 0 ||
                table[i].compare(state_at, 8, "panicked") == 0)
        << "STATE starts at column " << state_at << ":\n" << out;
    EXPECT_EQ(table[i][boots_end - 1], '1') << "numbers end under their heading:\n" << out;
  }
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "-o", "json", "--log-dir", logs.path().string()}, out), 0);
  EXPECT_EQ(nlohmann::json::parse(out).size(), 3u) << "-o json, as tail takes it";
}

// `hosts` on the files alone (no daemon, or --log-dir): a host whose state file was never saved (a
// daemon killed within a second of its first record) is listed from its log, and one whose saved
// state is older than its log has the log's later lines counted: its reboot after the panic too.
TEST(Hosts, TheFilesGiveEachHostsFiguresAsOfItsLogsEnd) {
  TempDir logs;
  std::filesystem::create_directories(logs.path() / "fresh");
  std::ofstream(logs.path() / "fresh" / "console.log")
      << line("10:00:01.000000", "kern.info", "1", "hello", "host=box-a")
      << line("10:00:02.000000", "lastgasp", "-", "lastgasp: lost 2 messages (seq 2-3)",
              "gap_first=2 gap_last=3 lost=2 cause=network")
      << line("10:00:03.000000", "kern.emerg", "4", "Kernel panic - not syncing: fresh dies")
      << line("10:00:03.000000", "lastgasp", "-", "lastgasp: panic Kernel panic - not syncing: fresh dies",
              "kind=panic trigger_seq=4")
      << line("10:00:09.000000", "lastgasp", "-", "lastgasp: reboot: a new boot begins at seq 0 after seq 4",
              "seq=0 prev_seq=4 boot=2")
      << line("10:00:09.000000", "kern.info", "0", "Linux version 6.1.0");
  std::filesystem::create_directories(logs.path() / "saved");
  std::ofstream(logs.path() / "saved" / "console.log")
      << line("10:00:01.000000", "kern.emerg", "1", "Kernel panic - not syncing: saved dies")
      << line("10:00:01.000000", "lastgasp", "-", "lastgasp: panic Kernel panic - not syncing: saved dies", "kind=panic")
      << line("10:00:20.000000", "lastgasp", "-", "lastgasp: reboot: a new boot begins at seq 0 after seq 1",
              "seq=0 prev_seq=1 boot=2")
      << line("10:00:20.000000", "kern.info", "0", "Linux version 6.1.0");
  // As the daemon saved it after the panic: the reboot came after.
  std::ofstream(logs.path() / "saved" / "state.json")
      << R"({"address": "192.0.2.7", "first_seen_us": 1795600801000000, "last_seen_us": 1795600801000000,
             "boots": 1, "records": 1, "panics": 1, "last_event": "panic"})";
  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "hosts", "--log-dir", logs.path().string(), "-o", "json", "--silent-after",
                         "1000000000"}, out), 0) << out;
  auto rows = nlohmann::json::parse(out);
  ASSERT_EQ(rows.size(), 2u) << rows;
  EXPECT_EQ(rows[0]["host"], "fresh");
  EXPECT_EQ(rows[0]["state"], "live") << "rebooted after its panic";
  EXPECT_EQ(rows[0]["records"], 3);
  EXPECT_EQ(rows[0]["gaps"], 1);
  EXPECT_EQ(rows[0]["lost"], 2);
  EXPECT_EQ(rows[0]["panics"], 1);
  EXPECT_EQ(rows[0]["boots"], 2);
  EXPECT_EQ(rows[0]["self_name"], "box-a");
  EXPECT_EQ(rows[0]["first_seen"], "2026-11-25T10:00:01Z");
  EXPECT_EQ(rows[0]["last_seen"], "2026-11-25T10:00:09Z");
  EXPECT_EQ(rows[1]["host"], "saved");
  EXPECT_EQ(rows[1]["state"], "live");
  EXPECT_EQ(rows[1]["address"], "192.0.2.7");
  EXPECT_EQ(rows[1]["records"], 2) << "the saved one and the new boot's";
  EXPECT_EQ(rows[1]["boots"], 2);
  EXPECT_EQ(rows[1]["panics"], 1);
  EXPECT_EQ(rows[1]["last_seen"], "2026-11-25T10:00:20Z");
}

// The real daemon on loopback: `hosts` lists a new host within a second, both asking the daemon
// and from the files, and a host that panics and then boots again is live in both.
TEST(Hosts, ANewHostAtOnceAndAPanickedOneLiveAgainOnceItReboots) {
  TempDir scratch;
  const auto logs = scratch.path() / "logs", config = scratch.path() / "rx.toml";
  std::uint16_t port = free_port(), http = free_port();
  std::ofstream(config) << "log_dir = \"" << logs.string() << "\"\nhttp_listen = \"127.0.0.1:" << http
                        << "\"\nsilent_after_s = 600\n";
  ReceiverProcess rx({"--config", config.string(), "--listen", "127.0.0.1:" + std::to_string(port), "--http",
                      "127.0.0.1:" + std::to_string(http)});
  auto row_of = [&](const std::vector<std::string>& where) {
    std::vector<std::string> args = {kReceiverBinary, "hosts", "-o", "json"};
    args.insert(args.end(), where.begin(), where.end());
    std::string out;
    if (run_command(args, out) != 0) return nlohmann::json{{"failed", out}};
    auto rows = nlohmann::json::parse(out, nullptr, false);
    for (const auto& r : rows.is_array() ? rows : nlohmann::json::array())
      if (r["host"] == "127.0.0.21") return r;
    return nlohmann::json{{"not listed", out}};
  };
  const std::vector<std::string> daemon = {"--config", config.string()},
                                 files = {"--config", config.string(), "--log-dir", logs.string()};
  UdpSender sender("127.0.0.1", port, "127.0.0.21");
  sender.send(ext(6, 1, 10, "first boot"));
  nlohmann::json row;
  for (const auto* where : {&daemon, &files})
    EXPECT_TRUE(eventually([&] { return (row = row_of(*where)).value("records", 0) == 1; }, 1000ms)) << row;

  sender.send(ext(6, 2, 20, "going down"));
  sender.send(ext(0, 3, 30, "Kernel panic - not syncing: on purpose"));
  for (const auto* where : {&daemon, &files})
    EXPECT_TRUE(eventually([&] { return (row = row_of(*where)).value("state", "") == "panicked"; }, 1000ms)) << row;
  // The new boot's first record: seq and kernel time start again. The reboot line comes at once,
  // the record once the reorder window has passed.
  sender.send(ext(6, 1, 5, "second boot"));
  for (const auto* where : {&daemon, &files}) {
    EXPECT_TRUE(eventually([&] {
      row = row_of(*where);
      return row.value("boots", 0) == 2 && row.value("records", 0) == 4;
    }, 2000ms)) << row;
    EXPECT_EQ(row["state"], "live") << row;
    EXPECT_EQ(row["panics"], 1) << row;
  }
  EXPECT_EQ(rx.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace lastgasp::test
