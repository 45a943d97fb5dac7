// `lastgasp-receiver tail`: the last records of every host, then follow, as
// journalctl -f and kubectl logs -f do. It reads the per-host logs only.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tail/log_reader.hpp"
#include "tail/render.hpp"
#include "toml_reader.hpp"

namespace lastgasp::cli {

namespace {

struct TailOptions {
  std::string config_file;
  std::string log_dir;
  bool follow = false;
  std::optional<std::size_t> lines;
  std::vector<std::string> hosts;
  std::string level;
  std::string grep;
  std::string since;
  std::string output = "short";
  std::string color = "auto";
};

bool use_color(const std::string& mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR") && term && std::string(term) != "dumb";
}

int fail(const std::string& message) {
  std::cerr << "lastgasp-receiver tail: " << message << "\n";
  return 2;
}

int run_tail(const TailOptions& o) {
  std::filesystem::path log_dir = o.log_dir;
  if (log_dir.empty()) {
    try {
      log_dir = load_config(o.config_file).log_dir;
    } catch (const config::ConfigError& e) {
      return fail(e.what());
    }
  }
  tail::Filter filter;
  filter.host_globs = o.hosts;
  if (!o.level.empty() && !filter.set_level(o.level))
    return fail("--level '" + o.level + "': use emerg, alert, crit, err, warn, notice, info or debug, with + for that and worse");
  if (std::string error; !o.grep.empty() && !filter.set_grep(o.grep, error))
    return fail("--grep '" + o.grep + "': " + error);
  if (!o.since.empty()) {
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    filter.since_us = tail::parse_since(o.since, now);
    if (!filter.since_us) return fail("--since '" + o.since + "': use RFC 3339 (2026-11-25T21:00:00Z) or 10m, 2h, 1d");
  }
  if (!std::filesystem::is_directory(log_dir)) return fail(log_dir.string() + " is not a directory (see --log-dir)");

  std::vector<std::string> hosts = tail::list_hosts(log_dir, filter);
  tail::RenderOptions render{o.output == "json", use_color(o.color), hosts.size() != 1};
  // With --since and no -n, everything since; otherwise the last N (10 by default).
  std::optional<std::size_t> n = o.lines ? o.lines : (filter.since_us ? std::nullopt : std::optional<std::size_t>(10));
  std::map<std::string, tail::Position> positions;
  for (const tail::Entry& e : tail::read_history(log_dir, hosts, filter, n, positions))
    std::fputs(tail::render(e, render).c_str(), stdout);
  std::fflush(stdout);
  if (!o.follow) return 0;
  render.show_host = render.show_host || o.hosts.empty() || hosts.size() != 1;
  tail::Follower follower(log_dir, filter, [&](const tail::Entry& e) {
    std::fputs(tail::render(e, render).c_str(), stdout);
    std::fflush(stdout);
  });
  follower.run(positions);
}

}  // namespace

Command define_tail(CLI::App* sub) {
  auto o = std::make_shared<TailOptions>();
  sub->add_option("--config", o->config_file, "read log_dir from this config file")->check(CLI::ExistingFile);
  sub->add_option("--log-dir", o->log_dir, "the receiver's log directory (default: the config's log_dir)");
  sub->add_flag("-f,--follow", o->follow, "keep printing new records as they arrive");
  sub->add_option("-n,--lines", o->lines, "how many records to show first, across all hosts (default 10)");
  sub->add_option("--host", o->hosts, "hosts to show, as shell globs (repeatable; default all)");
  sub->add_option("--level", o->level, "only this level, or with + this level and worse (err+)");
  sub->add_option("--grep", o->grep, "only records whose text matches this regular expression");
  sub->add_option("--since", o->since, "only records received since: RFC 3339, or 10m, 2h, 1d ago");
  sub->add_option("-o,--output", o->output, "short or json")->check(CLI::IsMember({"short", "json"}));
  sub->add_option("--color", o->color, "auto, always or never")->check(CLI::IsMember({"auto", "always", "never"}));
  return [o] { return run_tail(*o); };
}

}  // namespace lastgasp::cli
