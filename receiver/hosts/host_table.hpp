// The hosts one receive thread has heard from, keyed by address, and each
// host's streams, keyed by source port. Two hosts behind one NAT address are
// two streams of one host: they share the directory but never a sequence.
//
// All in memory: nothing here touches the file system, so a thousand hosts
// arriving at once never stall receiving. Where a host's streams had got to
// is read from its log by the writer; until it answers, the host is loading
// and its datagrams wait in a bounded buffer.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <unordered_set>

#include "sender_address.hpp"
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

// A datagram that came while its host was loading.
struct WaitingDatagram {
  wire::Instant arrived;
  std::uint16_t port;
  std::string payload;
};

struct Host {
  Host(wire::ReassemblyBudget& global, std::uint64_t reassembly_cap) : reassembly{reassembly_cap, 0, &global} {}

  // The src=<port> to write on this host's lines: only once it has several streams.
  std::optional<std::uint16_t> src_field(const Stream& s) const {
    return multi_port ? std::optional(s.port) : std::nullopt;
  }

  wire::ReassemblyBudget reassembly;  // before the streams, which give their share back as they go
  std::vector<Stream> streams;
  std::vector<sinks::ResumePoint> resume;  // read from the log, until each stream takes its own
  std::vector<WaitingDatagram> waiting;    // while loading, oldest first; [waiting_head, end) kept
  std::size_t waiting_head = 0;            // the oldest are let go by moving past them, not by a shift
  std::size_t waiting_bytes = 0;
  std::uint64_t waiting_dropped = 0;       // oldest datagrams let go at the bound, not yet told
  std::uint64_t ports_over_cap = 0;        // datagrams refused at max_streams, not yet told
  wire::MonoTime last_seen{};
  bool loading = true;     // the writer has not yet said where its streams had got to
  bool multi_port = false;
  bool scheduled = false;  // has a deadline pending: on the thread's timer list
};

// The host directories that exist: a host with one is no stranger, and is never held back by
// new_hosts_per_second. Read once at start (shared by every thread, never changed), then each
// thread adds the hosts it admits. Names are kept as 64-bit hashes: 65,536 hosts cost 2 MiB.
class KnownHosts {
 public:
  explicit KnownHosts(std::shared_ptr<const std::unordered_set<std::uint64_t>> at_start)
      : at_start_(std::move(at_start)) {}
  static std::shared_ptr<const std::unordered_set<std::uint64_t>> hash_all(const std::vector<std::string>& names);
  bool contains(const std::string& name) const;
  void add(const std::string& name);

 private:
  std::shared_ptr<const std::unordered_set<std::uint64_t>> at_start_;
  std::unordered_set<std::uint64_t> added_;
};

enum class Refusal { none, table_full, new_host_rate };

// Who may join the host tables of all receive threads together: at most max_hosts, and hosts
// never seen before at new_per_second after new_burst (each makes a directory that stays, and
// spoofed source addresses cost an attacker nothing). Shared by the threads, so taken only
// when a host is added or let go, never per datagram.
class Admission {
 public:
  explicit Admission(HostLimits limits) : limits_(limits), tokens_(limits.new_burst) {}
  void configure(HostLimits limits);
  // Refusal::none when one more host may be added; a STRANGER (no directory, not named in the
  // config) also takes a token.
  Refusal admit(bool stranger, wire::MonoTime now);
  void release(std::size_t hosts);

 private:
  std::mutex mutex_;
  HostLimits limits_;
  std::size_t held_ = 0;
  double tokens_;
  wire::MonoTime tokens_at_{};
};

// The directory each sender address writes to: the config's [hosts] name, or the address.
class HostNames {
 public:
  explicit HostNames(const std::map<std::string, std::string>& names);
  std::string directory_for(const SenderAddress& address) const;
  bool named(const SenderAddress& address) const { return names_.contains(address.bytes); }

 private:
  std::unordered_map<std::array<std::uint8_t, 16>, std::string, HostKeyHash> names_;
};

class HostTable {
 public:
  using Refusal = hosts::Refusal;
  // NAMES maps a numeric address to its host name, as the config's [hosts] table does.
  HostTable(const std::map<std::string, std::string>& names, KnownHosts known, Admission& admission,
            stream::StreamSettings settings, wire::ReassemblyBudget& budget, HostLimits limits);
  ~HostTable() { admission_.release(hosts_.size()); }
  HostTable(const HostTable&) = delete;
  HostTable& operator=(const HostTable&) = delete;

  // New names, settings and limits apply to hosts and streams added from now on.
  void configure(const std::map<std::string, std::string>& names, stream::StreamSettings settings,
                 HostLimits limits);

  // The host at ADDRESS, or nullptr.
  Host* find(const SenderAddress& address);
  // Adds the host at ADDRESS, whose directory is NAME (directory_for), loading; nullptr (and
  // why) when it may not be added.
  Host* add(const SenderAddress& address, const std::string& name, wire::MonoTime now, Refusal& why);
  // The writer read where HOST's streams had got to: it is loaded.
  void loaded(Host& host, std::vector<sinks::ResumePoint> resume);
  // HOST's stream from PORT, added if new; nullptr when the host has max_streams already.
  Stream* stream(Host& host, std::uint16_t port);
  // Drops HOST's streams silent since BEFORE that hold nothing, keeping where each had got to.
  void drop_idle_streams(Host& host, wire::MonoTime before);

  // F(key, host) for every host; the key is the host's address.
  template <class F>
  void for_each(F&& f) {
    for (auto& [key, host] : hosts_) f(key, *host);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [key, host] : hosts_) f(key, std::as_const(*host));
  }
  // Removes every host for which EVICT(key, host) is true.
  template <class F>
  void evict_if(F&& evict) {
    admission_.release(std::erase_if(hosts_, [&](auto& entry) { return evict(entry.first, *entry.second); }));
  }
  std::size_t size() const { return hosts_.size(); }
  // The directory a host at ADDRESS writes to.
  std::string directory_for(const SenderAddress& address) const { return names_.directory_for(address); }

 private:

  KnownHosts known_;
  Admission& admission_;
  stream::StreamSettings settings_;
  wire::ReassemblyBudget& budget_;
  HostLimits limits_;
  HostNames names_{{}};
  std::unordered_map<std::array<std::uint8_t, 16>, std::unique_ptr<Host>, HostKeyHash> hosts_;
};

}  // namespace lastgasp::hosts
