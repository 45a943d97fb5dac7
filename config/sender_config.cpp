#include "sender_config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include <toml++/toml.h>

#include "endpoint.hpp"
#include "toml_reader.hpp"

namespace lastgasp::config {

bool is_ip_address(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::optional<std::string> parse_unicast_mac(const std::string& text, std::string& error) {
  bool well_formed = text.size() == 17;
  for (std::size_t i = 0; well_formed && i < text.size(); ++i)
    well_formed = i % 3 == 2 ? text[i] == ':' : std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
  if (!well_formed) {
    error = "'" + text + "' is not a MAC address: write it as XX:XX:XX:XX:XX:XX";
    return std::nullopt;
  }
  std::string mac = text;
  std::transform(mac.begin(), mac.end(), mac.begin(), [](unsigned char c) { return std::tolower(c); });
  // The group bit marks broadcast and multicast: no single next hop.
  if (std::stoul(mac.substr(0, 2), nullptr, 16) & 1) {
    error = "'" + text + "' is a broadcast or multicast MAC: give the next hop's own MAC";
    return std::nullopt;
  }
  if (mac == "00:00:00:00:00:00") {
    error = "'" + text + "' is the all-zero MAC: give the next hop's own MAC";
    return std::nullopt;
  }
  return mac;
}

namespace {

void read_netconsole(TableReader& reader, SenderConfig::Netconsole& nc) {
  if (auto v = reader.string("name")) {
    if (v->empty() || v->find('/') != std::string::npos || *v == "." || *v == "..")
      reader.fail("name", "must be a plain directory name");
    nc.name = *v;
  }
  auto to = reader.string("to");
  if (!to) reader.fail("to", "missing: the receiver as ADDRESS:PORT");
  std::string error;
  auto endpoint = parse_host_port(*to, std::nullopt, error);
  if (!endpoint) reader.fail("to", error);
  if (!is_ip_address(endpoint->host)) reader.fail("to", "'" + *to + "': the address must be numeric");
  nc.to = format_host_port(endpoint->host, endpoint->port);
  if (auto v = reader.string("to_name")) nc.to_name = *v;
  if (auto v = reader.string("dev")) nc.dev = *v;
  if (auto v = reader.string("mac")) {
    std::string error;
    auto mac = parse_unicast_mac(*v, error);
    if (!mac) reader.fail("mac", error);
    nc.mac = *mac;
  }
  if (auto v = reader.integer("src_port", 1, 65535)) nc.src_port = static_cast<std::uint16_t>(*v);
  if (auto v = reader.boolean("extended")) nc.extended = *v;
  if (auto v = reader.boolean("allow_broadcast")) nc.allow_broadcast = *v;
  if (auto v = reader.boolean("boot_option")) nc.boot_option = *v;
  reader.reject_unknown_keys();
}

void read_panic(TableReader& reader, SenderConfig::Panic& panic) {
  if (auto v = reader.boolean("knobs")) panic.knobs = *v;
  if (auto v = reader.integer("timeout", 1, 86'400)) panic.timeout = *v;
  reader.reject_unknown_keys();
}

toml::table format_netconsole(const SenderConfig::Netconsole& nc) {
  toml::table netconsole{{"name", nc.name}, {"to", nc.to}};
  if (!nc.to_name.empty()) netconsole.insert("to_name", nc.to_name);
  if (!nc.dev.empty()) netconsole.insert("dev", nc.dev);
  if (!nc.mac.empty()) netconsole.insert("mac", nc.mac);
  netconsole.insert("src_port", static_cast<std::int64_t>(nc.src_port));
  netconsole.insert("extended", nc.extended);
  netconsole.insert("allow_broadcast", nc.allow_broadcast);
  netconsole.insert("boot_option", nc.boot_option);
  return netconsole;
}

}  // namespace

const SenderConfig::Netconsole* SenderFile::find(const std::string& name) const {
  for (const SenderConfig::Netconsole& nc : targets)
    if (nc.name == name) return &nc;
  return nullptr;
}

SenderFile load_sender_file(const std::filesystem::path& file) {
  toml::table table = parse_toml_file(file);
  TableReader root(table, file);
  SenderFile sender;
  std::vector<const toml::table*> netconsoles = root.tables("netconsole");
  if (netconsoles.empty()) root.fail("netconsole", "missing: a [[netconsole]] table names each receiver");
  for (const toml::table* netconsole : netconsoles) {
    TableReader nc(*netconsole, file, "netconsole");
    read_netconsole(nc, sender.targets.emplace_back());
    if (std::count_if(sender.targets.begin(), sender.targets.end(),
                      [&](const auto& t) { return t.name == sender.targets.back().name; }) > 1)
      nc.fail("name", "'" + sender.targets.back().name + "' names two targets");
  }
  if (const toml::table* panic = root.table("panic")) {
    TableReader reader(*panic, file, "panic");
    read_panic(reader, sender.panic);
  }
  root.reject_unknown_keys();
  return sender;
}

std::string format_sender_file(const SenderFile& file) {
  toml::array netconsoles;
  for (const SenderConfig::Netconsole& nc : file.targets) netconsoles.push_back(format_netconsole(nc));
  toml::table panic{{"knobs", file.panic.knobs}, {"timeout", file.panic.timeout}};
  toml::table root{{"netconsole", netconsoles}, {"panic", panic}};
  std::ostringstream out;
  out << "# Written by lastgasp-setup; the boot-time unit applies every [[netconsole]] target again.\n"
         "# 'lastgasp-setup netconsole' and 'remove' rewrite it; config/sender.toml documents the keys.\n\n"
      << toml::toml_formatter(root) << "\n";
  return out.str();
}

}  // namespace lastgasp::config
