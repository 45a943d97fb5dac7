// The daemon: `lastgasp-receiver [--config FILE] [--listen ADDR:PORT]... [--log-dir DIR] [--http ADDR:PORT]`.
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "daemon/daemon.hpp"
#include "notice.hpp"
#include "receiver_config.hpp"
#include "tail/render.hpp"
#include "toml_reader.hpp"

namespace lastgasp::cli {

namespace {

struct RunOptions {
  const RootOptions& root;  // --config and --log-dir
  std::vector<std::string> listen;
  std::optional<std::string> http;
  bool journal = false;
};

// The config file, with the flags on top.
config::ReceiverConfig effective_config(const RunOptions& options) {
  config::ReceiverConfig cfg = load_config(options.root.config_file);
  if (!options.listen.empty()) cfg.listen = options.listen;
  if (!options.root.log_dir.empty()) cfg.log_dir = options.root.log_dir;
  if (options.journal) cfg.journal = true;
  if (options.http) cfg.http_listen = *options.http;
  return cfg;
}

int run_daemon(const RunOptions& options) {
  config::ReceiverConfig cfg;
  try {
    cfg = effective_config(options);
  } catch (const config::ConfigError& e) {
    std::cerr << "lastgasp-receiver: " << e.what() << "\n";
    return 2;
  }
  try {
    boost::asio::io_context io(1);
    daemon::Daemon daemon(io, cfg, [options] { return effective_config(options); });
    daemon.start();
    io.run();
    return 0;
  } catch (const std::exception& e) {
    notice(Severity::error, e.what());
    return 1;
  }
}

}  // namespace

config::ReceiverConfig load_config(const std::string& file) {
  if (!file.empty()) return config::load_receiver_config(file);
  if (std::filesystem::exists(config::kDefaultReceiverConfig))
    return config::load_receiver_config(config::kDefaultReceiverConfig);
  return {};
}

std::string log_dir_problem(const std::filesystem::path& log_dir) {
  std::error_code ec;
  std::filesystem::directory_iterator listing(log_dir, ec);
  if (!ec) return "";
  std::string problem = "cannot read " + log_dir.string() + ": " + ec.message();
  if (ec == std::errc::permission_denied)
    problem += "; the lastgasp group may read it: 'usermod -aG lastgasp $USER', then log in again (or run as root)";
  else if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
    problem += " (see --log-dir, or log_dir in the config)";
  return problem;
}

void add_output_option(CLI::App* sub, std::string& output, const std::string& what) {
  std::vector<std::string> names(tail::kOutputNames.begin(), tail::kOutputNames.end());
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
  sub->add_option("-o,--output", output, "as journalctl -o: " + list + " (default short)" + what)
      ->check(CLI::IsMember(names));
}

Command add_run(CLI::App& app, RootOptions& root) {
  auto options = std::make_shared<RunOptions>(RunOptions{.root = root, .listen = {}, .http = {}, .journal = false});
  app.add_option("--config", root.config_file,
                 std::string("TOML config file (default: ") + config::kDefaultReceiverConfig +
                     " if it exists); before check-config, tail or hosts, theirs")
      ->check(CLI::ExistingFile);
  app.add_option("--listen", options->listen,
                 "ADDR:PORT to receive netconsole on, IPv6 as [ADDR]:PORT; repeatable (default [::]:6666)")
      ->check(config::listen_address_error);
  app.add_option("--log-dir", root.log_dir,
                 "where per-host logs go (default /var/log/lastgasp); before tail or hosts, theirs");
  app.add_option("--http", options->http,
                 "ADDR:PORT for the web page, /metrics and the APIs, \"\" for none (default 127.0.0.1:9666); anywhere but "
                 "loopback needs http_token_file")
      ->check([](const std::string& text) { return text.empty() ? std::string() : config::listen_address_error(text); });
  app.add_flag("--journal", options->journal, "also write every record to the systemd journal");
  return [options] { return run_daemon(*options); };
}

}  // namespace lastgasp::cli
