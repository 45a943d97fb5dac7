#include "host_table.hpp"

#include <algorithm>

namespace lastgasp::hosts {

HostTable::HostTable(const std::map<std::string, std::string>& names, const sinks::LogDirectory& dir,
                     stream::StreamSettings settings, wire::ReassemblyBudget& budget, HostLimits limits)
    : dir_(dir), budget_(budget), new_tokens_(limits.new_burst) {
  configure(names, settings, limits);
}

void HostTable::configure(const std::map<std::string, std::string>& names, stream::StreamSettings settings,
                          HostLimits limits) {
  settings_ = settings;
  limits_ = limits;
  new_tokens_ = std::min(new_tokens_, limits.new_burst);
  names_.clear();
  for (const auto& [address, name] : names)
    if (auto a = SenderAddress::from_text(address)) names_[a->bytes] = sanitize_host_name(name);
}

std::string HostTable::directory_for(const SenderAddress& address) const {
  if (auto it = names_.find(address.bytes); it != names_.end()) return it->second;
  std::string text = address.text();
  std::replace(text.begin(), text.end(), ':', '_');
  return sanitize_host_name(text);
}

// A token bucket for hosts never seen before: each makes a directory that stays, and spoofed
// source addresses cost an attacker nothing. Hosts named in the config are always welcome.
bool HostTable::admit_new(const SenderAddress& address, wire::MonoTime now) {
  if (names_.contains(address.bytes)) return true;
  std::chrono::duration<double> elapsed = now - new_tokens_at_;
  new_tokens_at_ = now;
  new_tokens_ = std::min(limits_.new_burst, new_tokens_ + elapsed.count() * limits_.new_per_second);
  if (new_tokens_ < 1) return false;
  new_tokens_ -= 1;
  return true;
}

Host* HostTable::host(const SenderAddress& address, wire::MonoTime now, Refusal& why) {
  if (auto it = hosts_.find(address.bytes); it != hosts_.end()) return it->second.get();
  if (hosts_.size() >= limits_.max_hosts) {
    why = Refusal::table_full;
    return nullptr;
  }
  auto host = std::make_unique<Host>(directory_for(address), budget_, limits_.reassembly_cap);
  host->resume = sinks::read_resume_points(dir_, host->name());
  auto state = load_host_state(dir_, host->name());
  if (host->resume.empty() && !state && !admit_new(address, now)) {
    why = Refusal::new_host_rate;
    return nullptr;
  }
  host->multi_port = std::any_of(host->resume.begin(), host->resume.end(), [](auto& p) { return p.port.has_value(); });
  host->state = state.value_or(HostState{});
  host->state.address = address.text();
  return hosts_.emplace(address.bytes, std::move(host)).first->second.get();
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
