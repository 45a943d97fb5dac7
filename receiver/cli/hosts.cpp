// `lastgasp-receiver hosts`: one row per host, from the state file the daemon
// keeps in each host's directory: live, silent, or panicked.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "hosts/host_state.hpp"
#include "sinks/state_file.hpp"
#include "tail/entry.hpp"
#include "tail/log_reader.hpp"
#include "tail/render.hpp"
#include "toml_reader.hpp"

namespace lastgasp::cli {

namespace {

struct HostsOptions {
  std::string config_file;
  std::string log_dir;
  std::optional<long> silent_after;
  bool json = false;
};

struct Row {
  std::string host;
  std::string state;
  hosts::HostState s;
};

std::string state_of(const hosts::HostState& s, std::int64_t now_us, std::int64_t silent_after_us) {
  if (s.last_event == "panic") return "panicked";
  return now_us - s.last_seen_us > silent_after_us ? "silent" : "live";
}

void print_table(const std::vector<Row>& rows) {
  std::printf("%-24s %-9s %-21s %6s %10s %6s %7s %8s  %s\n", "HOST", "STATE", "LAST SEEN", "BOOTS", "RECORDS", "GAPS",
              "PANICS", "DROPPED", "NAME");
  for (const Row& r : rows)
    std::printf("%-24s %-9s %-21s %6llu %10llu %6llu %7llu %8llu  %s\n", tail::terminal_safe(r.host).c_str(),
                r.state.c_str(), tail::format_rfc3339(r.s.last_seen_us).c_str(),
                static_cast<unsigned long long>(r.s.boots), static_cast<unsigned long long>(r.s.records),
                static_cast<unsigned long long>(r.s.gaps), static_cast<unsigned long long>(r.s.panics),
                static_cast<unsigned long long>(r.s.ports_over_cap + r.s.incidents_over_rate + r.s.lines_lost),
                tail::terminal_safe(r.s.self_name).c_str());
}

void print_json(const std::vector<Row>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const Row& r : rows)
    out.push_back({{"host", r.host},
                   {"state", r.state},
                   {"address", r.s.address},
                   {"self_name", r.s.self_name},
                   {"first_seen", tail::format_rfc3339(r.s.first_seen_us)},
                   {"last_seen", tail::format_rfc3339(r.s.last_seen_us)},
                   {"boots", r.s.boots},
                   {"records", r.s.records},
                   {"gaps", r.s.gaps},
                   {"lost", r.s.lost},
                   {"panics", r.s.panics},
                   {"incidents", r.s.incidents},
                   {"dropped",
                    {{"ports_over_cap", r.s.ports_over_cap},
                     {"incidents_over_rate", r.s.incidents_over_rate},
                     {"lines_lost", r.s.lines_lost}}}});
  std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int run_hosts(const HostsOptions& o) {
  config::ReceiverConfig cfg;
  try {
    cfg = load_config(o.config_file);
  } catch (const config::ConfigError& e) {
    std::cerr << "lastgasp-receiver hosts: " << e.what() << "\n";
    return 2;
  }
  std::filesystem::path log_dir = o.log_dir.empty() ? cfg.log_dir : std::filesystem::path(o.log_dir);
  std::int64_t silent_after_us = (o.silent_after ? *o.silent_after : cfg.silent_after.count()) * 1'000'000;
  if (!std::filesystem::is_directory(log_dir)) {
    std::cerr << "lastgasp-receiver hosts: " << log_dir.string() << " is not a directory (see --log-dir)\n";
    return 2;
  }
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  sinks::LogDirectory dir(log_dir);
  std::vector<Row> rows;
  for (const std::string& host : tail::list_hosts(log_dir, {})) {
    auto state = sinks::load_host_state(dir, host);
    if (state) rows.push_back({host, state_of(*state, now, silent_after_us), *state});
  }
  if (o.json) print_json(rows);
  else print_table(rows);
  return 0;
}

}  // namespace

Command define_hosts(CLI::App* sub) {
  auto o = std::make_shared<HostsOptions>();
  sub->add_option("--config", o->config_file, "read log_dir and silent_after_s from this config file")
      ->check(CLI::ExistingFile);
  sub->add_option("--log-dir", o->log_dir, "the receiver's log directory (default: the config's log_dir)");
  sub->add_option("--silent-after", o->silent_after, "seconds without a record before a host is silent");
  sub->add_flag("--json", o->json, "print JSON");
  return [o] { return run_hosts(*o); };
}

}  // namespace lastgasp::cli
