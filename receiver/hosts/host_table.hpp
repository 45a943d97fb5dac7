// Every sender host the daemon has heard from, keyed by address, and each
// host's streams, keyed by source port. Two hosts behind one NAT address are
// two streams of one host: they share the directory but never a sequence.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "host_state.hpp"
#include "sender_address.hpp"
#include "sinks/file_sink.hpp"
#include "sinks/log_resume.hpp"
#include "stream/stream_machine.hpp"

namespace lastgasp::hosts {

struct Stream {
  std::uint16_t port;
  stream::StreamMachine machine;
};

struct Host {
  explicit Host(std::string name) : files(std::move(name)) {}

  const std::string& name() const { return files.name; }
  // The src=<port> to write on this host's lines: only once it has several streams.
  std::optional<std::uint16_t> src_field(const Stream& s) const {
    return multi_port ? std::optional(s.port) : std::nullopt;
  }

  sinks::HostFiles files;
  HostState state;
  std::vector<Stream> streams;
  std::vector<sinks::ResumePoint> resume;  // read from the log, until each stream takes its own
  wire::MonoTime last_seen{};
  wire::MonoTime last_saved{};  // state.json
  bool multi_port = false;
  bool scheduled = false;  // has a deadline pending: on the daemon's timer list
};

class HostTable {
 public:
  // NAMES maps a numeric address to its host name, as the config's [hosts] table does.
  HostTable(const std::map<std::string, std::string>& names, const sinks::LogDirectory& dir,
            stream::StreamSettings settings, wire::ReassemblyBudget& budget, std::size_t max_hosts);

  // New names, settings and cap apply to hosts and streams added from now on.
  void configure(const std::map<std::string, std::string>& names, stream::StreamSettings settings,
                 std::size_t max_hosts);

  // The host at ADDRESS, added if new; nullptr when the table is full.
  Host* host(const SenderAddress& address);
  Stream& stream(Host& host, std::uint16_t port);

  template <class F>
  void for_each(F&& f) {
    for (auto& [key, host] : hosts_) f(*host);
  }
  // Removes every host for which EVICT(host) is true; EVICT may flush it first.
  template <class F>
  void evict_if(F&& evict) {
    std::erase_if(hosts_, [&](auto& entry) { return evict(*entry.second); });
  }
  std::size_t size() const { return hosts_.size(); }
  // The directory a host at ADDRESS writes to.
  std::string directory_for(const SenderAddress& address) const;

 private:

  const sinks::LogDirectory& dir_;
  stream::StreamSettings settings_;
  wire::ReassemblyBudget& budget_;
  std::size_t max_hosts_ = 0;
  std::unordered_map<std::array<std::uint8_t, 16>, std::string, HostKeyHash> names_;
  std::unordered_map<std::array<std::uint8_t, 16>, std::unique_ptr<Host>, HostKeyHash> hosts_;
};

}  // namespace lastgasp::hosts
