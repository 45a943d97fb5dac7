// `lastgasp-receiver hosts`: one row per host, live, silent, or panicked: asked
// of the running daemon (http_listen), which has them fresh in memory, or else
// read from the state file it keeps in each host's directory.
#include <boost/asio/error.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "http/http_client.hpp"
#include "sinks/log_directory.hpp"
#include "tail/host_rows.hpp"
#include "tail/render.hpp"
#include "toml_reader.hpp"

namespace lastgasp::cli {

namespace {

constexpr std::chrono::milliseconds kAskTimeout{3000};

struct HostsOptions {
  std::string config_file;
  std::string log_dir;
  std::optional<long> silent_after;
  bool json = false;
};

void print_table(const nlohmann::json& rows) {
  std::printf("%-24s %-9s %-21s %6s %10s %6s %7s %8s  %s\n", "HOST", "STATE", "LAST SEEN", "BOOTS", "RECORDS", "GAPS",
              "PANICS", "DROPPED", "NAME");
  auto number = [](const nlohmann::json& row, const char* key) { return row.value(key, 0ull); };
  for (const nlohmann::json& r : rows) {
    const nlohmann::json& dropped = r.contains("dropped") ? r["dropped"] : nlohmann::json::object();
    std::printf("%-24s %-9s %-21s %6llu %10llu %6llu %7llu %8llu  %s\n",
                tail::terminal_safe(r.value("host", "")).c_str(), tail::terminal_safe(r.value("state", "")).c_str(),
                tail::terminal_safe(r.value("last_seen", "")).c_str(), number(r, "boots"), number(r, "records"),
                number(r, "gaps"), number(r, "panics"),
                number(dropped, "ports_over_cap") + number(dropped, "incidents_over_rate") + number(dropped, "lines_lost"),
                tail::terminal_safe(r.value("self_name", "")).c_str());
  }
}

std::string read_token(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  return token;
}

// The running daemon's rows, live from its memory; nullopt (and, when it is worth saying, a
// note on stderr) when it does not answer, and the state files will do.
std::optional<nlohmann::json> ask_daemon(const config::ReceiverConfig& cfg, long silent_after_s) {
  std::string token = cfg.http_token_file.empty() ? "" : read_token(cfg.http_token_file);
  boost::system::error_code ec;
  auto fetched = http::http_get(cfg.http_listen, "/api/hosts?silent_after=" + std::to_string(silent_after_s), token,
                                kAskTimeout, ec);
  std::string why;
  if (!fetched) {
    if (ec == boost::asio::error::connection_refused) return std::nullopt;  // not running: the files are all there is
    why = ec.message();
  } else if (fetched->status != 200) {
    why = "HTTP " + std::to_string(fetched->status);
  } else {
    auto rows = nlohmann::json::parse(fetched->body, nullptr, false);
    if (rows.is_array()) return rows;
    why = "not a JSON array";
  }
  std::cerr << "lastgasp-receiver hosts: the receiver at " << cfg.http_listen << " did not answer (" << why
            << "): reading the state files, which lag up to 30 s\n";
  return std::nullopt;
}

int run_hosts(const HostsOptions& o) {
  config::ReceiverConfig cfg;
  try {
    cfg = load_config(o.config_file);
  } catch (const config::ConfigError& e) {
    std::cerr << "lastgasp-receiver hosts: " << e.what() << "\n";
    return 2;
  }
  long silent_after_s = o.silent_after ? *o.silent_after : static_cast<long>(cfg.silent_after.count());
  std::optional<nlohmann::json> rows;
  // --log-dir names a directory, maybe not the running daemon's: its files are what was asked for.
  if (o.log_dir.empty() && !cfg.http_listen.empty()) rows = ask_daemon(cfg, silent_after_s);
  if (!rows) {
    std::filesystem::path log_dir = o.log_dir.empty() ? cfg.log_dir : std::filesystem::path(o.log_dir);
    if (std::string problem = log_dir_problem(log_dir); !problem.empty()) {
      std::cerr << "lastgasp-receiver hosts: " << problem << "\n";
      return 2;
    }
    sinks::LogDirectory dir(log_dir);
    rows = tail::hosts_json(tail::host_rows(dir, {}, SIZE_MAX), tail::wall_now_us(), silent_after_s * 1'000'000);
  }
  if (o.json) {
    std::cout << rows->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  try {
    print_table(*rows);
  } catch (const nlohmann::json::exception& e) {  // whatever answered on http_listen was not a receiver
    std::cerr << "lastgasp-receiver hosts: unexpected rows from " << cfg.http_listen << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

Command define_hosts(CLI::App* sub) {
  auto o = std::make_shared<HostsOptions>();
  sub->add_option("--config", o->config_file, "read log_dir, silent_after_s, http_listen and http_token_file from this config file")
      ->check(CLI::ExistingFile);
  sub->add_option("--log-dir", o->log_dir, "read the state files in this log directory, not the running daemon (default: ask the daemon, "
                  "or read the config's log_dir)");
  sub->add_option("--silent-after", o->silent_after, "seconds without a record before a host is silent");
  sub->add_flag("--json", o->json, "print JSON");
  return [o] { return run_hosts(*o); };
}

}  // namespace lastgasp::cli
