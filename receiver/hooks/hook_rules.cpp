#include "hook_rules.hpp"

#include <fnmatch.h>

#include "sinks/log_line.hpp"
#include "wire/escape.hpp"

namespace lastgasp::hooks {

namespace {

constexpr auto kRateWindow = std::chrono::minutes(1);
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// The daemon's own variables a run keeps: where programs are, and the locale they speak.
constexpr std::array<std::string_view, 4> kKeptVariables = {"LANG=", "LC_ALL=", "LC_CTYPE=", "TZ="};

void add(std::vector<std::string>& env, std::string_view name, std::string_view value) {
  env.push_back(std::string(name) + "=" + safe_env_value(value));
}

}  // namespace

bool RateWindow::admit(MonoTime now) {
  while (!admitted_.empty() && now - admitted_.front() >= kRateWindow) admitted_.pop_front();
  if (admitted_.size() >= max_) return false;
  admitted_.push_back(now);
  return true;
}

bool HookGate::wants(const HookEvent& event) const {
  return hook_.runs_on(event.kind) && ::fnmatch(hook_.hosts.c_str(), event.host.c_str(), 0) == 0;
}

std::optional<HookEvent> HookGate::offer(HookEvent event, MonoTime now) {
  if (!rate_.admit(now)) {
    ++counters(event.kind).dropped_rate;
    return std::nullopt;
  }
  if (running_ < hook_.concurrency) return start(std::move(event));
  if (queue_.size() >= hook_.queue) {
    ++counters(event.kind).dropped_queue;
    return std::nullopt;
  }
  queue_.push_back(std::move(event));
  return std::nullopt;
}

std::optional<HookEvent> HookGate::finished(config::HookOn kind, RunEnd end) {
  --running_;
  if (end == RunEnd::failed) ++counters(kind).failed;
  if (end == RunEnd::timed_out) ++counters(kind).timed_out;
  if (queue_.empty()) return std::nullopt;
  HookEvent next = std::move(queue_.front());
  queue_.pop_front();
  return start(std::move(next));
}

HookEvent HookGate::start(HookEvent event) {
  ++running_;
  ++counters(event.kind).runs;
  return event;
}

std::string safe_env_value(std::string_view text) {
  std::string out;
  wire::append_escaped(out, text);
  if (out.size() <= kMaxEnvValue) return out;
  std::size_t cut = kMaxEnvValue;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;  // not inside a character
  if (auto slash = out.rfind('\\', cut - 1); slash != std::string::npos && slash + 4 > cut) cut = slash;  // nor an escape
  out.resize(cut);
  return out;
}

std::vector<std::string> hook_environment(const config::Hook& hook, const HookEvent& event,
                                          const std::vector<std::string>& base) {
  std::vector<std::string> env = base;
  add(env, "LASTGASP_HOOK", hook.name);
  add(env, "LASTGASP_EVENT", config::kHookOnNames[static_cast<std::size_t>(event.kind)]);
  add(env, "LASTGASP_HOST", event.host);
  add(env, "LASTGASP_LOG", event.log.string());
  std::string time;
  sinks::TimeFormatter().append(time, event.time);
  add(env, "LASTGASP_TIME", time);
  if (event.boot) add(env, "LASTGASP_BOOT", std::to_string(*event.boot));
  if (event.seq) add(env, "LASTGASP_SEQ", std::to_string(*event.seq));
  if (!event.incident_kind.empty()) add(env, "LASTGASP_INCIDENT_KIND", event.incident_kind);
  if (!event.incident_file.empty()) add(env, "LASTGASP_INCIDENT_FILE", event.incident_file.string());
  if (!event.pstore_file.empty()) add(env, "LASTGASP_PSTORE_FILE", event.pstore_file.string());
  if (!event.trigger_line.empty()) {
    if (event.kind != config::HookOn::pstore) add(env, "LASTGASP_TRIGGER_LINE", event.trigger_line);
    if (event.incident_kind == "panic") add(env, "LASTGASP_PANIC_LINE", event.trigger_line);
  }
  return env;
}

std::vector<std::string> base_environment(char** variables) {
  std::vector<std::string> base;
  std::string path = std::string("PATH=") + kDefaultPath;
  for (char** variable = variables; variable && *variable; ++variable) {
    std::string_view text(*variable);
    if (text.starts_with("PATH=")) path = text;
    for (std::string_view kept : kKeptVariables)
      if (text.starts_with(kept)) base.emplace_back(text);
  }
  base.insert(base.begin(), std::move(path));
  return base;
}

}  // namespace lastgasp::hooks
