// `lastgasp-receiver hosts`: one row per host, live, silent, or panicked: asked
// of the running daemon (http_listen), which has them fresh in memory, or else
// read from the files: the state it saves in each host's directory, brought up
// to the end of the host's log.
#include <boost/asio/error.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>
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
  std::string output = "short";
};

// LAST SEEN as tail writes a record's time in OUTPUT (a short mode).
std::string last_seen(const nlohmann::json& row, tail::Output output) {
  if (row.contains("last_seen_usec")) return tail::format_time(row["last_seen_usec"].get<std::int64_t>(), output);
  return tail::terminal_safe(row.value("last_seen", ""));  // a receiver from before last_seen_usec
}

// The table, each column as wide as its widest cell: a 39-character IPv6 host keeps the columns straight.
void print_table(const nlohmann::json& rows, tail::Output output) {
  auto number = [](const nlohmann::json& row, const char* key) { return std::to_string(row.value(key, 0ull)); };
  std::vector<std::vector<std::string>> table = {
      {"HOST", "STATE", "LAST SEEN", "BOOTS", "RECORDS", "GAPS", "PANICS", "DROPPED", "NAME"}};
  for (const nlohmann::json& r : rows) {
    const nlohmann::json& dropped = r.contains("dropped") ? r["dropped"] : nlohmann::json::object();
    table.push_back({tail::terminal_safe(r.value("host", "")), tail::terminal_safe(r.value("state", "")),
                     last_seen(r, output), number(r, "boots"), number(r, "records"),
                     number(r, "gaps"), number(r, "panics"),
                     std::to_string(dropped.value("ports_over_cap", 0ull) + dropped.value("incidents_over_rate", 0ull) +
                                    dropped.value("lines_lost", 0ull)),
                     tail::terminal_safe(r.value("self_name", ""))});
  }
  std::vector<std::size_t> widths(table.front().size(), 0);
  for (const auto& row : table)
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  constexpr std::size_t kFirstNumber = 3, kName = 8;  // numbers align right; the text columns left
  for (const auto& row : table) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::string pad(widths[i] - row[i].size(), ' ');
      if (i == kName) line += "  " + row[i];  // the last column: no padding after it
      else line += (i > 0 ? " " : "") + (i >= kFirstNumber ? pad + row[i] : row[i] + pad);
    }
    std::printf("%s\n", line.c_str());
  }
}

std::string read_token(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  return token;
}

// Over HTTPS, what the daemon's certificate must verify against: the CA, or else the
// certificate itself.
std::optional<http::ServerTrust> server_trust(const config::ReceiverConfig& cfg) {
  if (!cfg.http_uses_tls()) return std::nullopt;
  if (!cfg.http_tls_ca_file.empty()) return http::ServerTrust{{"http_tls_ca_file", cfg.http_tls_ca_file}, false};
  return http::ServerTrust{{"http_tls_cert_file", cfg.http_tls_cert_file}, true};
}

// The running daemon's rows, live from its memory; nullopt (and, when it is worth saying, a
// note on stderr) when it does not answer, or cannot be trusted, and the files will do.
std::optional<nlohmann::json> ask_daemon(const config::ReceiverConfig& cfg, long silent_after_s) {
  std::string token = cfg.http_token_file.empty() ? "" : read_token(cfg.http_token_file);
  http::Asked asked = http::http_get(cfg.http_listen, "/api/hosts?silent_after=" + std::to_string(silent_after_s),
                                     token, kAskTimeout, server_trust(cfg));
  std::string why;
  if (!asked.untrusted.empty()) {
    std::cerr << "lastgasp-receiver hosts: not asking the receiver at " << cfg.http_listen << ": " << asked.untrusted
              << "; reading the state files, which lag up to 30 s\n";
    return std::nullopt;
  }
  if (!asked.fetched) {
    if (asked.error == boost::asio::error::connection_refused) return std::nullopt;  // not running: the files are all there is
    why = asked.error.message();
  } else if (asked.fetched->status != 200) {
    why = "HTTP " + std::to_string(asked.fetched->status);
  } else {
    auto rows = nlohmann::json::parse(asked.fetched->body, nullptr, false);
    if (rows.is_array()) return rows;
    why = "not a JSON array";
  }
  std::cerr << "lastgasp-receiver hosts: the receiver at " << cfg.http_listen << " did not answer (" << why
            << "): reading the files instead\n";
  return std::nullopt;
}

// -o cat: the host names alone, one a line, for a shell's loop.
void print_names(const nlohmann::json& rows) {
  for (const nlohmann::json& r : rows) std::printf("%s\n", tail::terminal_safe(r.value("host", "")).c_str());
}

int run_hosts(const HostsOptions& o, const RootOptions& root) {
  const std::string log_dir_option = root.log_dir_or(o.log_dir);
  config::ReceiverConfig cfg;
  try {
    cfg = load_config(root.config_or(o.config_file));
  } catch (const config::ConfigError& e) {
    std::cerr << "lastgasp-receiver hosts: " << e.what() << "\n";
    return 2;
  }
  long silent_after_s = o.silent_after ? *o.silent_after : static_cast<long>(cfg.silent_after.count());
  std::optional<nlohmann::json> rows;
  // --log-dir names a directory, maybe not the running daemon's: its files are what was asked for.
  if (log_dir_option.empty() && !cfg.http_listen.empty()) rows = ask_daemon(cfg, silent_after_s);
  if (!rows) {
    std::filesystem::path log_dir = log_dir_option.empty() ? cfg.log_dir : std::filesystem::path(log_dir_option);
    if (std::string problem = log_dir_problem(log_dir); !problem.empty()) {
      std::cerr << "lastgasp-receiver hosts: " << problem << "\n";
      return 2;
    }
    sinks::LogDirectory dir(log_dir);
    rows = tail::hosts_json(tail::host_rows_as_of_logs(dir, log_dir), tail::wall_now_us(), silent_after_s * 1'000'000);
  }
  tail::Output output = o.json ? tail::Output::json : *tail::parse_output(o.output);
  if (tail::is_json(output)) {
    int indent = output == tail::Output::json_pretty ? 2 : -1;
    std::cout << rows->dump(indent, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  try {
    if (output == tail::Output::cat) print_names(*rows);
    else print_table(*rows, output);
  } catch (const nlohmann::json::exception& e) {  // whatever answered on http_listen was not a receiver
    std::cerr << "lastgasp-receiver hosts: unexpected rows from " << cfg.http_listen << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

Command define_hosts(CLI::App* sub, const RootOptions& root) {
  auto o = std::make_shared<HostsOptions>();
  sub->add_option("--config", o->config_file, "read log_dir, silent_after_s and the http_ keys (listen, token, TLS) from this config file")
      ->check(CLI::ExistingFile);
  sub->add_option("--log-dir", o->log_dir, "read the files in this log directory, not the running daemon (default: ask the daemon, "
                  "or read the config's log_dir)");
  sub->add_option("--silent-after", o->silent_after, "seconds without a record before a host is silent");
  add_output_option(sub, o->output, ": the short modes a table, its LAST SEEN as tail writes a time; cat the "
                    "host names alone; json the rows as one JSON array");
  sub->add_flag("--json", o->json, "print JSON (the same as -o json)");
  return [o, &root] { return run_hosts(*o, root); };
}

}  // namespace lastgasp::cli
