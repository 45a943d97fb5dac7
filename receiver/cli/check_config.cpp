// `lastgasp-receiver check-config FILE` (or `--config FILE check-config`): validates a config
// file, and the files it names that the daemon would refuse to start with; changes nothing.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "daemon/daemon.hpp"
#include "receiver_config.hpp"
#include "toml_reader.hpp"

namespace lastgasp::cli {

Command define_check_config(CLI::App* sub, const RootOptions& root) {
  auto own = std::make_shared<std::string>();
  sub->add_option("FILE", *own, "the TOML file (default: the one --config names before check-config)");
  return [own, &root] {
    std::string file = root.config_or(*own);
    if (file.empty()) {
      std::cerr << "lastgasp-receiver check-config: name the file to check\n";
      return 2;
    }
    try {
      config::ReceiverConfig cfg = config::load_receiver_config(file);
      daemon::http_tls(cfg);
      std::cout << file << ": ok (" << cfg.listen.size() << " listen address"
                << (cfg.listen.size() == 1 ? "" : "es") << ", logs in " << cfg.log_dir.string() << ", "
                << cfg.hosts.size() << " named host" << (cfg.hosts.size() == 1 ? "" : "s") << ")\n";
      return 0;
    } catch (const config::ConfigError& e) {
      std::cerr << "lastgasp-receiver: " << e.what() << "\n";
      return 2;
    } catch (const std::runtime_error& e) {  // a file the config names
      std::cerr << "lastgasp-receiver: " << file << ": " << e.what() << "\n";
      return 2;
    }
  };
}

}  // namespace lastgasp::cli
