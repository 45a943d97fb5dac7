#include "host_table.hpp"

#include <algorithm>

namespace lastgasp::hosts {

HostTable::HostTable(const std::map<std::string, std::string>& names, const sinks::LogDirectory& dir,
                     stream::StreamSettings settings, wire::ReassemblyBudget& budget, std::size_t max_hosts)
    : dir_(dir), budget_(budget) {
  configure(names, settings, max_hosts);
}

void HostTable::configure(const std::map<std::string, std::string>& names, stream::StreamSettings settings,
                          std::size_t max_hosts) {
  settings_ = settings;
  max_hosts_ = max_hosts;
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

Host* HostTable::host(const SenderAddress& address) {
  if (auto it = hosts_.find(address.bytes); it != hosts_.end()) return it->second.get();
  if (hosts_.size() >= max_hosts_) return nullptr;
  auto host = std::make_unique<Host>(directory_for(address));
  host->resume = sinks::read_resume_points(dir_, host->name());
  host->multi_port = std::any_of(host->resume.begin(), host->resume.end(), [](auto& p) { return p.port.has_value(); });
  host->state = load_host_state(dir_, host->name()).value_or(HostState{});
  host->state.address = address.text();
  return hosts_.emplace(address.bytes, std::move(host)).first->second.get();
}

Stream& HostTable::stream(Host& host, std::uint16_t port) {
  for (Stream& s : host.streams)
    if (s.port == port) return s;
  Stream& s = host.streams.emplace_back(Stream{port, stream::StreamMachine(settings_, budget_)});
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
  return s;
}

}  // namespace lastgasp::hosts
