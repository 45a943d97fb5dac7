// One receive thread's share of the fleet: the hosts steered to it, their
// streams, and everything that turns their datagrams into events (decoding,
// ordering, detecting). Pure work in memory: datagrams and an Instant in,
// messages for the writer out; no file, no socket, no clock of its own, so the
// daemon runs it on a thread and the fuzzer runs it inline.
//
// A host it has never held is added loading: the writer is asked where its
// streams had got to (only its log can say), and its datagrams wait, in order,
// in a bounded buffer until the answer comes. Past the bound the oldest go,
// counted, and a gap line says so.
#pragma once

#include <cstdint>
#include <vector>

#include "guard.hpp"
#include "hosts/allow_list.hpp"
#include "hosts/host_table.hpp"
#include "messages.hpp"
#include "receiver_config.hpp"

namespace lastgasp::daemon {

// What one shard has counted, summed by the daemon for STATUS=.
struct ShardFigures {
  stream::StreamCounters counters;
  std::uint64_t hosts = 0;
  std::uint64_t streams = 0;
  std::uint64_t fragment_bytes = 0;
  std::uint64_t waiting_bytes = 0;        // datagrams of loading hosts
  std::uint64_t hosts_refused = 0;        // datagrams from hosts over max_hosts
  std::uint64_t new_hosts_limited = 0;    // datagrams from new hosts past new_hosts_per_second
  std::uint64_t streams_refused = 0;      // datagrams from ports over max_streams_per_host
  std::uint64_t not_allowed = 0;          // datagrams from outside the allow list
  std::uint64_t waiting_dropped = 0;      // datagrams let go while their host was loading
  std::uint64_t internal_errors = 0;

  ShardFigures& operator+=(const ShardFigures& o);
};

hosts::HostLimits host_limits(const config::ReceiverConfig& config);

class Shard {
 public:
  // One of COUNT shards, which share ADMISSION (max_hosts, new hosts' rate) and each hold
  // their share of reassembly_global_cap.
  Shard(const config::ReceiverConfig& config, hosts::KnownHosts known, hosts::Admission& admission, unsigned count);
  void configure(const config::ReceiverConfig& config);

  // A datagram from SENDER, which steers to this shard.
  void take(const hosts::SenderAddress& sender, std::string_view payload, const wire::Instant& now);
  // The writer's answer to a LoadHost.
  void loaded(HostLoaded reply);
  // Everything due at NOW with no datagram arriving: timeouts, and each second, letting go of
  // silent streams and hosts.
  void advance(wire::MonoTime now);
  // Everything held, now (shutdown). Loading hosts are fed first: call it once none is left.
  void drain();

  // The messages for the writer so far, in order; EMPTY (a vector the writer is done with, its
  // memory kept) takes their place.
  std::vector<ToWriter> take_outbox(std::vector<ToWriter> empty = {});
  // The outbox holds what should not wait for the next tick: a new host to load, an incident.
  bool urgent() const { return urgent_; }
  bool outbox_empty() const { return outbox_.empty(); }
  std::size_t outbox_size() const { return outbox_.size(); }
  std::size_t loading() const { return loading_; }
  ShardFigures figures() const;
  std::uint64_t internal_errors() const { return guard_.errors(); }

 private:
  void take_from(const hosts::SenderAddress& sender, std::string_view payload, const wire::Instant& now);
  hosts::Host* admit(const hosts::SenderAddress& sender, wire::MonoTime now);
  void wait(hosts::Host& host, std::uint16_t port, std::string_view payload, const wire::Instant& now);
  void feed(const HostKey& key, hosts::Host& host, std::uint16_t port, std::string_view payload,
            const wire::Instant& now);
  void emit(const HostKey& key, const hosts::Host& host, const hosts::Stream& stream);
  void schedule(const HostKey& key, hosts::Host& host);
  void housekeeping(wire::MonoTime now);
  void tell_drops(const HostKey& key, hosts::Host& host);

  config::ReceiverConfig config_;
  unsigned count_;
  Guard guard_;
  wire::ReassemblyBudget budget_;
  hosts::HostTable hosts_;
  hosts::AllowList allow_;
  std::vector<stream::Event> events_;
  std::vector<ToWriter> outbox_;
  bool urgent_ = false;
  std::vector<HostKey> scheduled_;  // hosts with a deadline pending
  std::size_t loading_ = 0;
  std::uint64_t waiting_bytes_ = 0;
  stream::StreamCounters counters_;
  ShardFigures refused_;  // the refusal counts only
  wire::MonoTime last_housekeeping_{};
};

}  // namespace lastgasp::daemon
