// rtnetlink notifications for `lastgasp-setup watch`: the link, address, route
// and neighbour groups, IPv4 and IPv6. Each message is reduced to what decides
// whether a target may have to follow it; a socket buffer overflow (ENOBUFS),
// where the kernel dropped notifications, is reported so that the caller
// re-resolves everything instead of missing a change.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct nl_sock;
struct nlmsghdr;

namespace lastgasp::setup {

struct RouteEvent {
  enum Kind { kLink, kAddress, kRoute, kNeighbour } kind = kLink;
  bool removed = false;   // RTM_DEL*
  int ifindex = 0;
  bool cloned = false;    // a route cache entry (RTM_F_CLONED): says nothing of the routing table
  std::string address;    // a neighbour's address, numeric
  std::string lladdr;     // a neighbour's MAC, lowercase; empty when it has none
  std::uint16_t state = 0;  // a neighbour's NUD_* state
};

// What a target sends through, as last resolved: an event on any of it, or
// anything that could make an unresolved target resolve, asks for a re-resolve.
struct TargetDependency {
  int ifindex = 0;
  std::string next_hop;
  std::string mac;
  bool resolved = false;
};

// The events in DATA, one recv(2) of SIZE bytes; messages of no interest are skipped.
std::vector<RouteEvent> parse_route_events(const void* data, std::size_t size);

// Whether EVENT may change what a target of DEPENDENCIES should be. A neighbour
// entry that only ages (REACHABLE, STALE, DELAY) with the MAC already written is
// not a change: otherwise every ARP refresh, and each of the watch's own probes,
// would trigger another re-resolve.
bool affects(const RouteEvent& event, const std::vector<TargetDependency>& dependencies);

struct RouteEventBatch {
  std::vector<RouteEvent> events;
  bool overflow = false;  // ENOBUFS: notifications were lost
};

class RouteEvents {
 public:
  // Subscribes; throws Error when rtnetlink cannot be opened.
  RouteEvents();
  ~RouteEvents();
  RouteEvents(const RouteEvents&) = delete;
  RouteEvents& operator=(const RouteEvents&) = delete;

  int fd() const;
  // The notifications queued now, without blocking; at most a bounded number of
  // reads, so that a flood cannot keep the caller from acting on them.
  RouteEventBatch drain();

 private:
  nl_sock* sock_;
};

}  // namespace lastgasp::setup
