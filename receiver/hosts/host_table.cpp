#include "host_table.hpp"

#include <algorithm>

namespace lastgasp::hosts {

std::shared_ptr<const std::unordered_set<std::uint64_t>> KnownHosts::hash_all(const std::vector<std::string>& names) {
  auto set = std::make_shared<std::unordered_set<std::uint64_t>>();
  for (const std::string& name : names) set->insert(std::hash<std::string>{}(name));
  return set;
}

bool KnownHosts::contains(const std::string& name) const {
  std::uint64_t h = std::hash<std::string>{}(name);
  return at_start_->contains(h) || added_.contains(h);
}

void KnownHosts::add(const std::string& name) { added_.insert(std::hash<std::string>{}(name)); }

void Admission::configure(HostLimits limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
  tokens_ = std::min(tokens_, limits.new_burst);
}

Refusal Admission::admit(bool stranger, wire::MonoTime now) {
  std::lock_guard lock(mutex_);
  if (held_ >= limits_.max_hosts) return Refusal::table_full;
  if (stranger) {
    std::chrono::duration<double> elapsed = now - tokens_at_;
    tokens_at_ = now;
    tokens_ = std::min(limits_.new_burst, tokens_ + elapsed.count() * limits_.new_per_second);
    if (tokens_ < 1) return Refusal::new_host_rate;
    tokens_ -= 1;
  }
  ++held_;
  return Refusal::none;
}

void Admission::release(std::size_t hosts) {
  std::lock_guard lock(mutex_);
  held_ -= std::min(held_, hosts);
}

HostTable::HostTable(const std::map<std::string, std::string>& names, KnownHosts known, Admission& admission,
                     stream::StreamSettings settings, wire::ReassemblyBudget& budget, HostLimits limits)
    : known_(std::move(known)), admission_(admission), budget_(budget) {
  configure(names, settings, limits);
}

void HostTable::configure(const std::map<std::string, std::string>& names, stream::StreamSettings settings,
                          HostLimits limits) {
  settings_ = settings;
  limits_ = limits;
  names_ = HostNames(names);
}

HostNames::HostNames(const std::map<std::string, std::string>& names) {
  for (const auto& [address, name] : names)
    if (auto a = SenderAddress::from_text(address)) names_[a->bytes] = sanitize_host_name(name);
}

std::string HostNames::directory_for(const SenderAddress& address) const {
  if (auto it = names_.find(address.bytes); it != names_.end()) return it->second;
  std::string text = address.text();
  std::replace(text.begin(), text.end(), ':', '_');
  return sanitize_host_name(text);
}

Host* HostTable::find(const SenderAddress& address) {
  auto it = hosts_.find(address.bytes);
  return it == hosts_.end() ? nullptr : it->second.get();
}

Host* HostTable::add(const SenderAddress& address, const std::string& name, wire::MonoTime now, Refusal& why) {
  bool stranger = !known_.contains(name) && !names_.named(address);
  if ((why = admission_.admit(stranger, now)) != Refusal::none) return nullptr;
  if (stranger) known_.add(name);
  auto host = std::make_unique<Host>(budget_, limits_.reassembly_cap);
  return hosts_.emplace(address.bytes, std::move(host)).first->second.get();
}

void HostTable::loaded(Host& host, std::vector<sinks::ResumePoint> resume) {
  host.loading = false;
  host.resume = std::move(resume);
  host.multi_port = std::any_of(host.resume.begin(), host.resume.end(), [](auto& p) { return p.port.has_value(); });
}

Stream* HostTable::stream(Host& host, std::uint16_t port) {
  for (Stream& s : host.streams)
    if (s.port == port) return &s;
  if (host.streams.size() >= limits_.max_streams) return nullptr;
  Stream& s = host.streams.emplace_back(Stream{port, stream::StreamMachine(settings_, host.reassembly), {}});
  host.multi_port |= host.streams.size() > 1;
  // Take this port's resume point, or else the one with no port (a host that had one stream).
  auto point = std::find_if(host.resume.begin(), host.resume.end(), [&](auto& p) { return p.port == port; });
  if (point == host.resume.end())
    point = std::find_if(host.resume.begin(), host.resume.end(), [](auto& p) { return !p.port; });
  if (point != host.resume.end()) {
    s.machine.sequencer().resume(point->position);
    host.resume.erase(point);
  }
  if (host.resume.empty()) std::vector<sinks::ResumePoint>().swap(host.resume);
  return &s;
}

void HostTable::drop_idle_streams(Host& host, wire::MonoTime before) {
  std::erase_if(host.streams, [&](const Stream& s) {
    if (s.last_seen >= before || s.machine.next_deadline()) return false;
    if (auto last = s.machine.sequencer().last()) host.resume.push_back({s.port, *last});
    return true;
  });
}

}  // namespace lastgasp::hosts
