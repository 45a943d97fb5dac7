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
#include <utility>
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
  wire::MonoTime last_seen{};
};

struct HostLimits {
  std::size_t max_hosts = 262144;
  std::size_t max_streams = 64;                // source ports of one address held at once
  std::uint64_t reassembly_cap = 512u << 10;   // pending fragment bytes of all its streams
  double new_per_second = 100;                 // hosts with no directory yet, admitted per second...
  double new_burst = 1024;                     // ...after a first burst of this many
};

struct Host {
  Host(std::string name, wire::ReassemblyBudget& global, std::uint64_t reassembly_cap)
      : files(std::move(name)), reassembly{reassembly_cap, 0, &global} {}

  const std::string& name() const { return files.name; }
  // The src=<port> to write on this host's lines: only once it has several streams.
  std::optional<std::uint16_t> src_field(const Stream& s) const {
    return multi_port ? std::optional(s.port) : std::nullopt;
  }

  sinks::HostFiles files;
  HostState state;
  wire::ReassemblyBudget reassembly;  // before the streams, which give their share back as they go
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
            stream::StreamSettings settings, wire::ReassemblyBudget& budget, HostLimits limits);

  // New names, settings and limits apply to hosts and streams added from now on.
  void configure(const std::map<std::string, std::string>& names, stream::StreamSettings settings,
                 HostLimits limits);

  enum class Refusal { none, table_full, new_host_rate, streams_full };
  // The host at ADDRESS, added if new; nullptr (and why) when it cannot be.
  Host* host(const SenderAddress& address, wire::MonoTime now, Refusal& why);
  // HOST's stream from PORT, added if new; nullptr when the host has max_streams already.
  Stream* stream(Host& host, std::uint16_t port);
  // Drops HOST's streams silent since BEFORE that hold nothing, keeping where each had got to.
  void drop_idle_streams(Host& host, wire::MonoTime before);

  template <class F>
  void for_each(F&& f) {
    for (auto& [key, host] : hosts_) f(*host);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [key, host] : hosts_) f(std::as_const(*host));
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

  bool admit_new(const SenderAddress& address, wire::MonoTime now);

  const sinks::LogDirectory& dir_;
  stream::StreamSettings settings_;
  wire::ReassemblyBudget& budget_;
  HostLimits limits_;
  double new_tokens_ = 0;
  wire::MonoTime new_tokens_at_{};
  std::unordered_map<std::array<std::uint8_t, 16>, std::string, HostKeyHash> names_;
  std::unordered_map<std::array<std::uint8_t, 16>, std::unique_ptr<Host>, HostKeyHash> hosts_;
};

}  // namespace lastgasp::hosts
