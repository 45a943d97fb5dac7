#include "link.hpp"

#include "relp_link.hpp"
#include "stream_link.hpp"

namespace lastgasp::forward {

LinkCounters Link::counters() const {
  LinkCounters c;
  c.sent = sent_.load(std::memory_order_relaxed);
  c.connects = connects_.load(std::memory_order_relaxed);
  c.connect_errors = connect_errors_.load(std::memory_order_relaxed);
  c.disconnects = disconnects_.load(std::memory_order_relaxed);
  c.connected = connected_.load(std::memory_order_relaxed);
  return c;
}

std::unique_ptr<Link> make_link(const config::Forward& settings, Spool& spool) {
  if (settings.uses_relp()) return make_relp_link(settings, spool);
  return make_stream_link(settings, spool);
}

std::string describe(const config::Forward& settings) {
  return "forward " + settings.name + " (" + settings.host + ":" + std::to_string(settings.port) + ")";
}

std::string unreachable_notice(const config::Forward& settings, const std::string& what, bool sandboxed) {
  return describe(settings) + ": " + what + "; spooling and retrying" +
         (sandboxed ? "; under systemd, let the unit reach it: see FORWARDING in lastgasp-receiver(8)" : "");
}

}  // namespace lastgasp::forward
