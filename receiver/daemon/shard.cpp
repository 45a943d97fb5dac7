#include "shard.hpp"

#include <algorithm>

namespace lastgasp::daemon {

namespace {

constexpr auto kHousekeepingInterval = std::chrono::seconds(1);
// A stream quiet this long gives back the memory it kept for its next datagram: most of a
// fleet is quiet most of the time.
constexpr auto kCompactAfter = std::chrono::seconds(1);
// A loading host's datagrams wait at most this many bytes (a netconsole burst of hundreds of
// records), and all loading hosts of a shard together at most kWaitingShardBytes.
constexpr std::size_t kWaitingHostBytes = 256u << 10;
constexpr std::size_t kWaitingShardBytes = 32u << 20;
constexpr std::size_t kWaitingOverhead = sizeof(hosts::WaitingDatagram);

stream::StreamSettings stream_settings(const config::ReceiverConfig& c) {
  stream::StreamSettings s;
  s.timeouts.fragment = c.fragment_timeout;
  s.timeouts.legacy_line = c.legacy_line_timeout;
  s.fragment_limits.stream_cap = c.reassembly_stream_cap;
  s.reorder_window = c.reorder_window;
  return s;
}

}  // namespace

hosts::HostLimits host_limits(const config::ReceiverConfig& c) {
  hosts::HostLimits l;
  l.max_hosts = c.max_hosts;
  l.max_streams = c.max_streams_per_host;
  l.reassembly_cap = c.reassembly_host_cap;
  l.new_per_second = c.new_hosts_per_second;
  l.new_burst = c.new_hosts_burst;
  return l;
}

namespace {

hosts::SenderAddress address_of(const HostKey& key) { return {key, 0}; }

}  // namespace

ShardFigures& ShardFigures::operator+=(const ShardFigures& o) {
  counters += o.counters;
  hosts += o.hosts;
  streams += o.streams;
  fragment_bytes += o.fragment_bytes;
  waiting_bytes += o.waiting_bytes;
  hosts_refused += o.hosts_refused;
  new_hosts_limited += o.new_hosts_limited;
  streams_refused += o.streams_refused;
  not_allowed += o.not_allowed;
  waiting_dropped += o.waiting_dropped;
  internal_errors += o.internal_errors;
  return *this;
}

Shard::Shard(const config::ReceiverConfig& config, hosts::KnownHosts known, hosts::Admission& admission,
             unsigned count)
    : config_(config),
      count_(count),
      budget_{config.reassembly_global_cap / count, 0},
      hosts_(config.hosts, std::move(known), admission, stream_settings(config), budget_, host_limits(config)),
      allow_(config.allow) {}

void Shard::configure(const config::ReceiverConfig& config) {
  config_ = config;
  hosts_.configure(config.hosts, stream_settings(config), host_limits(config));
  allow_ = hosts::AllowList(config.allow);
  budget_.cap = config.reassembly_global_cap / count_;
}

void Shard::take(const hosts::SenderAddress& sender, std::string_view payload, const wire::Instant& now) {
  if (!allow_.allows(sender)) {
    ++refused_.not_allowed;
    return;
  }
  if (!guard_.run("taking a datagram", [&] { take_from(sender, payload, now); })) events_.clear();
}

void Shard::take_from(const hosts::SenderAddress& sender, std::string_view payload, const wire::Instant& now) {
  hosts::Host* host = hosts_.find(sender);
  if (!host && !(host = admit(sender, now.mono))) return;
  host->last_seen = now.mono;
  if (host->loading) return wait(*host, sender.port, payload, now);
  feed(sender.bytes, *host, sender.port, payload, now);
}

hosts::Host* Shard::admit(const hosts::SenderAddress& sender, wire::MonoTime now) {
  std::string name = hosts_.directory_for(sender);
  auto refusal = hosts::HostTable::Refusal::none;
  hosts::Host* host = hosts_.add(sender, name, now, refusal);
  if (!host) {
    ++(refusal == hosts::HostTable::Refusal::new_host_rate ? refused_.new_hosts_limited : refused_.hosts_refused);
    return nullptr;
  }
  ++loading_;
  outbox_.push_back({sender.bytes, LoadHost{std::move(name), sender.text()}});
  urgent_ = true;
  return host;
}

// While the writer reads where the host had got to. At the host's bound the oldest datagram
// goes; at the shard's, the new one does (no host may crowd out the others' first words).
void Shard::wait(hosts::Host& host, std::uint16_t port, std::string_view payload, const wire::Instant& now) {
  std::size_t cost = payload.size() + kWaitingOverhead;
  while (host.waiting_head < host.waiting.size() && host.waiting_bytes + cost > kWaitingHostBytes) {
    std::string gone_payload = std::move(host.waiting[host.waiting_head++].payload);
    std::size_t gone = gone_payload.size() + kWaitingOverhead;
    host.waiting_bytes -= gone;
    waiting_bytes_ -= gone;
    ++host.waiting_dropped;
    ++refused_.waiting_dropped;
  }
  if (waiting_bytes_ + cost > kWaitingShardBytes) {
    ++host.waiting_dropped;
    ++refused_.waiting_dropped;
    return;
  }
  host.waiting.push_back({now, port, std::string(payload)});
  host.waiting_bytes += cost;
  waiting_bytes_ += cost;
}

void Shard::loaded(HostLoaded reply) {
  hosts::Host* host = hosts_.find(address_of(reply.host));
  if (!host || !host->loading) return;
  --loading_;
  hosts_.loaded(*host, std::move(reply.resume));
  std::vector<hosts::WaitingDatagram> waiting;
  waiting.swap(host->waiting);
  waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(std::exchange(host->waiting_head, 0)));
  waiting_bytes_ -= host->waiting_bytes;
  host->waiting_bytes = 0;
  bool fed = guard_.run("feeding a host's first datagrams", [&] {
    if (host->waiting_dropped) {
      stream::Event& gap = events_.emplace_back();
      gap.type = stream::EventType::gap;
      gap.record.arrived = waiting.empty() ? wire::Instant{} : waiting.front().arrived;
      gap.record.text = "lastgasp: lost " + std::to_string(host->waiting_dropped) +
                        " datagrams that came while this host's files were opened (the receiver was flooded)";
      gap.record.fields = {{"lost", std::to_string(host->waiting_dropped)}, {"cause", "waiting"}};
      ++counters_.sequence.gaps;
      counters_.sequence.lost += std::exchange(host->waiting_dropped, 0);
      for (stream::Event& e : events_) outbox_.push_back({reply.host, WriteEvent{std::move(e), std::nullopt}});
      events_.clear();
    }
    for (const hosts::WaitingDatagram& d : waiting) feed(reply.host, *host, d.port, d.payload, d.arrived);
  });
  if (!fed) events_.clear();
}

void Shard::feed(const HostKey& key, hosts::Host& host, std::uint16_t port, std::string_view payload,
                 const wire::Instant& now) {
  hosts::Stream* stream = hosts_.stream(host, port);
  if (!stream) {
    ++refused_.streams_refused;
    ++host.ports_over_cap;
    return;
  }
  stream->last_seen = now.mono;
  stream->machine.feed(payload, now, events_, counters_);
  emit(key, host, *stream);
  if (stream->machine.next_deadline()) schedule(key, host);
}

void Shard::emit(const HostKey& key, const hosts::Host& host, const hosts::Stream& stream) {
  for (stream::Event& event : events_) {
    urgent_ |= event.type == stream::EventType::incident;  // written and fsynced at once
    outbox_.push_back({key, WriteEvent{std::move(event), host.src_field(stream)}});
  }
  events_.clear();
}

void Shard::schedule(const HostKey& key, hosts::Host& host) {
  if (host.scheduled) return;
  host.scheduled = true;
  scheduled_.push_back(key);
}

void Shard::advance(wire::MonoTime now) {
  std::vector<HostKey> due;
  due.swap(scheduled_);
  for (const HostKey& key : due) {
    hosts::Host* host = hosts_.find(address_of(key));
    if (!host) continue;
    host->scheduled = false;
    bool ok = guard_.run("expiring a host's timeouts", [&] {
      for (hosts::Stream& stream : host->streams) {
        stream.machine.expire(now, events_, counters_);
        emit(key, *host, stream);
        if (stream.machine.next_deadline()) schedule(key, *host);
      }
    });
    if (!ok) events_.clear();
  }
  if (now - last_housekeeping_ >= kHousekeepingInterval) guard_.run("housekeeping", [&] { housekeeping(now); });
}

void Shard::tell_drops(const HostKey& key, hosts::Host& host) {
  if (!host.ports_over_cap) return;
  outbox_.push_back({key, HostDrops{std::exchange(host.ports_over_cap, 0), 0}});
}

// A silent host holds nothing (its deadlines have all passed): let it go; it resumes from its log.
void Shard::housekeeping(wire::MonoTime now) {
  last_housekeeping_ = now;
  std::vector<HostKey> evicted;
  hosts_.evict_if([&](const HostKey& key, hosts::Host& host) {
    if (host.loading) return false;
    hosts_.drop_idle_streams(host, now - config_.stream_idle);
    for (hosts::Stream& stream : host.streams)
      if (stream.last_seen < now - kCompactAfter && !stream.machine.next_deadline()) stream.machine.compact();
    tell_drops(key, host);
    bool evict = !host.scheduled && now - host.last_seen >= config_.stream_idle;
    if (evict) outbox_.push_back({key, ForgetHost{}});
    return evict;
  });
}

void Shard::drain() {
  hosts_.for_each([&](const HostKey& key, hosts::Host& host) {
    guard_.run("writing what a host held", [&] {
      for (hosts::Stream& stream : host.streams) {
        stream.machine.drain(events_, counters_);
        emit(key, host, stream);
      }
      tell_drops(key, host);
    });
    events_.clear();
  });
}

std::vector<ToWriter> Shard::take_outbox(std::vector<ToWriter> empty) {
  urgent_ = false;
  empty.clear();
  empty.swap(outbox_);
  return empty;
}

ShardFigures Shard::figures() const {
  ShardFigures f = refused_;
  f.counters = counters_;
  f.hosts = hosts_.size();
  hosts_.for_each([&](const HostKey&, const hosts::Host& host) { f.streams += host.streams.size(); });
  f.fragment_bytes = budget_.used;
  f.waiting_bytes = waiting_bytes_;
  f.internal_errors = guard_.errors();
  return f;
}

}  // namespace lastgasp::daemon
