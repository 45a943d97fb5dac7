// `lastgasp-receiver check-config FILE`: validates a config file, changes nothing.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "receiver_config.hpp"
#include "toml_reader.hpp"

namespace lastgasp::cli {

Command define_check_config(CLI::App* sub) {
  auto file = std::make_shared<std::string>();
  sub->add_option("FILE", *file, "the TOML file")->required();
  return [file] {
    try {
      config::ReceiverConfig cfg = config::load_receiver_config(*file);
      std::cout << *file << ": ok (" << cfg.listen.size() << " listen address"
                << (cfg.listen.size() == 1 ? "" : "es") << ", logs in " << cfg.log_dir.string() << ", "
                << cfg.hosts.size() << " named host" << (cfg.hosts.size() == 1 ? "" : "s") << ")\n";
      return 0;
    } catch (const config::ConfigError& e) {
      std::cerr << "lastgasp-receiver: " << e.what() << "\n";
      return 2;
    }
  };
}

}  // namespace lastgasp::cli
