// `lastgasp-receiver tail`: the last records of every host, then follow, as
// journalctl -f and kubectl logs -f do. It reads the per-host logs only.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <ranges>
#include <tuple>

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
  bool reverse = false;
  std::optional<std::size_t> lines;
  std::vector<std::string> hosts;
  std::string priority;
  std::string grep;
  std::string case_sensitive;  // "" (as the pattern says), or a boolean
  std::string since, until;
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

// systemd's booleans.
std::optional<bool> boolean(const std::string& text) {
  for (const char* yes : {"yes", "true", "on", "1", "y", "t"})
    if (text == yes) return true;
  for (const char* no : {"no", "false", "off", "0", "n", "f"})
    if (text == no) return false;
  return std::nullopt;
}

int run_tail(const TailOptions& o, const RootOptions& root) {
  // As journalctl: newest first has no end to start following from.
  if (o.reverse && o.follow) return fail("--reverse and --follow do not go together: give one of them");
  std::filesystem::path log_dir = root.log_dir_or(o.log_dir);
  if (log_dir.empty()) {
    try {
      log_dir = load_config(root.config_or(o.config_file)).log_dir;
    } catch (const config::ConfigError& e) {
      return fail(e.what());
    }
  }
  tail::Filter filter;
  filter.host_globs = o.hosts;
  if (!o.priority.empty() && !(filter.priorities = tail::parse_priorities(o.priority)))
    return fail("--priority '" + o.priority + "': use emerg, alert, crit, err, warning, notice, info, debug or 0-7 "
                "(that and more severe), or a range such as warning..err");
  std::optional<bool> case_sensitive;
  if (!o.case_sensitive.empty() && !(case_sensitive = boolean(o.case_sensitive)))
    return fail("--case-sensitive='" + o.case_sensitive + "': use yes or no");
  if (std::string error; !o.grep.empty() && !filter.set_grep(o.grep, case_sensitive, error))
    return fail("--grep '" + o.grep + "': " + error);
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  for (auto [name, text, bound] : {std::tuple{"--since", &o.since, &filter.since_us},
                                   std::tuple{"--until", &o.until, &filter.until_us}}) {
    if (text->empty()) continue;
    *bound = tail::parse_time(*text, now);
    if (!*bound)
      return fail(std::string(name) + " '" + *text + "': use \"2026-11-30 20:00[:00]\" (local time, or add Z or +01:00), "
                  "RFC 3339, today, yesterday, -1h, \"1h30m ago\"");
  }
  if (std::string problem = log_dir_problem(log_dir); !problem.empty()) return fail(problem);

  std::vector<std::string> hosts = tail::list_hosts(log_dir, filter);
  tail::RenderOptions render{*tail::parse_output(o.output), use_color(o.color), hosts.size() != 1};
  // With --since and no -n, everything since; otherwise the last N (10 by default).
  std::optional<std::size_t> n = o.lines ? o.lines : (filter.since_us ? std::nullopt : std::optional<std::size_t>(10));
  std::map<std::string, tail::Position> positions;
  std::vector<tail::Entry> history = tail::read_history(log_dir, hosts, filter, n, positions);
  if (o.reverse) std::ranges::reverse(history);
  for (const tail::Entry& e : history) std::fputs(tail::render(e, render).c_str(), stdout);
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

Command define_tail(CLI::App* sub, const RootOptions& root) {
  auto o = std::make_shared<TailOptions>();
  sub->add_option("--config", o->config_file, "read log_dir from this config file")->check(CLI::ExistingFile);
  sub->add_option("--log-dir", o->log_dir, "the receiver's log directory (default: the config's log_dir)");
  sub->add_flag("-f,--follow", o->follow, "keep printing new records as they arrive");
  sub->add_flag("-r,--reverse", o->reverse, "newest first (the newest N with -n); not with --follow");
  sub->add_option("-n,--lines", o->lines, "how many records to show first, across all hosts (default 10)");
  sub->add_option("--host", o->hosts, "hosts to show, as shell globs (repeatable; default all)");
  sub->add_option("-p,--priority,--level", o->priority,
                  "only this priority and more severe (err, 3), or a range (warning..err); as journalctl -p");
  sub->add_option("-g,--grep", o->grep,
                  "only records whose text matches this regular expression (case-insensitive if it is all lower case)");
  auto* case_sensitive = sub->add_flag("--case-sensitive{yes}", o->case_sensitive,
                                       "match --grep with case; --case-sensitive=no, without");
  sub->add_flag_callback("-i,--ignore-case", [o] { o->case_sensitive = "no"; }, "match --grep without case")
      ->excludes(case_sensitive);
  sub->add_option("-S,--since", o->since,
                  "only records received since: \"2026-11-30 20:00\" (local time), yesterday, -1h, \"1h30m ago\"");
  sub->add_option("-U,--until", o->until, "only records received until, in the forms of --since");
  sub->add_flag("--no-pager")->description("accepted for journalctl's habit: tail never pages");
  add_output_option(sub, o->output, "");
  sub->add_option("--color", o->color, "auto, always or never")->check(CLI::IsMember({"auto", "always", "never"}));
  return [o, &root] { return run_tail(*o, root); };
}

}  // namespace lastgasp::cli
