#include <gtest/gtest.h>

#include <algorithm>

#include "hooks/hook_rules.hpp"

namespace lastgasp::hooks {
namespace {

using namespace std::chrono_literals;
using config::HookOn;

config::Hook hook_on(std::initializer_list<HookOn> events) {
  config::Hook h;
  h.name = "page";
  h.program = "/bin/true";
  for (HookOn e : events) h.on |= 1u << static_cast<unsigned>(e);
  return h;
}

HookEvent event(HookOn kind, std::string host = "web1") {
  HookEvent e;
  e.kind = kind;
  e.host = std::move(host);
  e.log = "/var/log/lastgasp/" + e.host + "/console.log";
  return e;
}

const HookCounters& of(const HookGate& gate, HookOn kind) { return gate.counters()[static_cast<std::size_t>(kind)]; }

// The value of NAME in ENV, or nullopt.
std::optional<std::string> get(const std::vector<std::string>& env, const std::string& name) {
  for (const std::string& entry : env)
    if (entry.starts_with(name + "=")) return entry.substr(name.size() + 1);
  return std::nullopt;
}

TEST(HookGate, WantsItsEventsOfTheHostsItsGlobMatches) {
  config::Hook h = hook_on({HookOn::panic, HookOn::silent});
  h.hosts = "db*";
  HookGate gate(h);
  EXPECT_TRUE(gate.wants(event(HookOn::panic, "db1")));
  EXPECT_TRUE(gate.wants(event(HookOn::silent, "db2")));
  EXPECT_FALSE(gate.wants(event(HookOn::incident, "db1")));
  EXPECT_FALSE(gate.wants(event(HookOn::reboot, "db1")));
  EXPECT_FALSE(gate.wants(event(HookOn::panic, "web1")));
}

TEST(HookGate, RunsUpToItsConcurrencyQueuesThenDropsAndCounts) {
  config::Hook h = hook_on({HookOn::panic});
  h.concurrency = 2;
  h.queue = 1;
  h.max_per_minute = 100;
  HookGate gate(h);
  auto now = MonoTime{} + 1h;
  EXPECT_TRUE(gate.offer(event(HookOn::panic, "a"), now));
  EXPECT_TRUE(gate.offer(event(HookOn::panic, "b"), now));
  EXPECT_FALSE(gate.offer(event(HookOn::panic, "c"), now));  // queued
  EXPECT_FALSE(gate.offer(event(HookOn::panic, "d"), now));  // dropped
  EXPECT_EQ(gate.running(), 2u);
  EXPECT_EQ(gate.queued(), 1u);
  EXPECT_EQ(of(gate, HookOn::panic).runs, 2u);
  EXPECT_EQ(of(gate, HookOn::panic).dropped_queue, 1u);

  auto next = gate.finished(HookOn::panic, RunEnd::failed);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->host, "c");
  EXPECT_EQ(gate.running(), 2u);
  EXPECT_FALSE(gate.finished(HookOn::panic, RunEnd::timed_out));
  EXPECT_FALSE(gate.finished(HookOn::panic, RunEnd::ok));
  EXPECT_EQ(gate.running(), 0u);
  const HookCounters& c = of(gate, HookOn::panic);
  EXPECT_EQ(c.runs, 3u);
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(c.timed_out, 1u);
  EXPECT_EQ(c.dropped_rate, 0u);
}

TEST(HookGate, EventsPastTheRateAreDroppedUntilAMinuteHasPassed) {
  config::Hook h = hook_on({HookOn::reboot});
  h.concurrency = 64;
  h.max_per_minute = 3;
  HookGate gate(h);
  auto start = MonoTime{} + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(gate.offer(event(HookOn::reboot), start + i * 10s));
  EXPECT_FALSE(gate.offer(event(HookOn::reboot), start + 59s));
  EXPECT_EQ(of(gate, HookOn::reboot).dropped_rate, 1u);
  EXPECT_TRUE(gate.offer(event(HookOn::reboot), start + 60s));  // the first left the window
  EXPECT_FALSE(gate.offer(event(HookOn::reboot), start + 65s));
  EXPECT_EQ(of(gate, HookOn::reboot).runs, 4u);
  EXPECT_EQ(of(gate, HookOn::reboot).dropped_rate, 2u);
}

TEST(RateWindow, AdmitsAtMostItsCountInAnyMinute) {
  RateWindow rate(2);
  auto t = MonoTime{} + 1h;
  EXPECT_TRUE(rate.admit(t));
  EXPECT_TRUE(rate.admit(t + 30s));
  EXPECT_FALSE(rate.admit(t + 59s));
  EXPECT_TRUE(rate.admit(t + 60s));
  EXPECT_FALSE(rate.admit(t + 89s));
  EXPECT_TRUE(rate.admit(t + 90s));
}

TEST(HookEnvironment, APanicTellsTheHostTheFileAndTheLine) {
  HookEvent e = event(HookOn::panic);
  e.boot = 3;
  e.seq = 372;
  e.incident_kind = "panic";
  e.incident_file = "/var/log/lastgasp/web1/incidents/20261202T170000Z-panic.log";
  e.trigger_line = "Kernel panic - not syncing: sysrq triggered crash";
  e.time = std::chrono::sys_days(std::chrono::year(2026) / 12 / 2) + 17h + 1s;
  auto env = hook_environment(hook_on({HookOn::panic}), e, {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"});
  EXPECT_EQ(env[0], "PATH=/usr/bin:/bin");
  EXPECT_EQ(env[1], "LANG=C.UTF-8");
  EXPECT_EQ(get(env, "LASTGASP_EVENT"), "panic");
  EXPECT_EQ(get(env, "LASTGASP_HOOK"), "page");
  EXPECT_EQ(get(env, "LASTGASP_HOST"), "web1");
  EXPECT_EQ(get(env, "LASTGASP_BOOT"), "3");
  EXPECT_EQ(get(env, "LASTGASP_SEQ"), "372");
  EXPECT_EQ(get(env, "LASTGASP_INCIDENT_KIND"), "panic");
  EXPECT_EQ(get(env, "LASTGASP_INCIDENT_FILE"), e.incident_file.string());
  EXPECT_EQ(get(env, "LASTGASP_PANIC_LINE"), e.trigger_line);
  EXPECT_EQ(get(env, "LASTGASP_TRIGGER_LINE"), e.trigger_line);
  EXPECT_EQ(get(env, "LASTGASP_LOG"), "/var/log/lastgasp/web1/console.log");
  EXPECT_EQ(get(env, "LASTGASP_TIME"), "2026-12-02T17:00:01.000000Z");
  EXPECT_FALSE(get(env, "LASTGASP_PSTORE_FILE"));
}

TEST(HookEnvironment, AnOopsHasATriggerLineButNoPanicLine) {
  HookEvent e = event(HookOn::incident);
  e.incident_kind = "oops";
  e.trigger_line = "Oops: 0002 [#1] SMP";
  auto env = hook_environment(hook_on({HookOn::incident}), e, {});
  EXPECT_EQ(get(env, "LASTGASP_TRIGGER_LINE"), "Oops: 0002 [#1] SMP");
  EXPECT_FALSE(get(env, "LASTGASP_PANIC_LINE"));
  EXPECT_FALSE(get(env, "LASTGASP_BOOT"));
}

TEST(HookEnvironment, ASendersControlBytesAndLengthNeverReachItRaw) {
  HookEvent e = event(HookOn::panic);
  e.incident_kind = "panic";
  e.trigger_line = std::string("Kernel panic\x1b[2J\r\nEVIL=1\0tail", 29) + std::string(5000, 'x');
  auto env = hook_environment(hook_on({HookOn::panic}), e, {});
  auto line = get(env, "LASTGASP_PANIC_LINE");
  ASSERT_TRUE(line);
  EXPECT_TRUE(line->starts_with("Kernel panic\\x1b[2J\\x0d\\x0aEVIL=1\\x00tail")) << *line;
  EXPECT_LE(line->size(), kMaxEnvValue);
  for (const std::string& entry : env) {
    EXPECT_FALSE(entry.starts_with("EVIL"));
    auto control = [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; };
    EXPECT_TRUE(std::none_of(entry.begin(), entry.end(), control)) << entry;
  }
}

TEST(SafeEnvValue, CutsOnACharacterAndNeverInsideAnEscape) {
  std::string text = std::string(kMaxEnvValue - 2, 'a') + "\x01zz";  // the escape straddles the bound
  EXPECT_EQ(safe_env_value(text), std::string(kMaxEnvValue - 2, 'a'));
  std::string utf8 = std::string(kMaxEnvValue - 1, 'a') + "\xc3\xa9";  // é straddles it
  EXPECT_EQ(safe_env_value(utf8), std::string(kMaxEnvValue - 1, 'a'));
  EXPECT_EQ(safe_env_value("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(BaseEnvironment, KeepsPathAndTheLocaleOnly) {
  char path[] = "PATH=/opt/bin", lang[] = "LANG=de_DE.UTF-8", secret[] = "AWS_SECRET_ACCESS_KEY=x",
       notify[] = "NOTIFY_SOCKET=/run/systemd/notify", tz[] = "TZ=UTC";
  char* daemons[] = {secret, path, notify, lang, tz, nullptr};
  EXPECT_EQ(base_environment(daemons), (std::vector<std::string>{"PATH=/opt/bin", "LANG=de_DE.UTF-8", "TZ=UTC"}));
  char* none[] = {secret, nullptr};
  EXPECT_EQ(base_environment(none),
            (std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
}

}  // namespace
}  // namespace lastgasp::hooks
