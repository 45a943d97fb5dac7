#include "route_events.hpp"

#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "configfs/netconsole_target.hpp"
#include "error.hpp"

namespace lastgasp::setup {

namespace {

// Bounded: a burst beyond it overflows (ENOBUFS), which drain() reports.
constexpr int kReceiveBuffer = 1 << 20;
constexpr int kReadsPerDrain = 256;

// The states the kernel sends with (as path_resolver's neighbour() accepts).
constexpr std::uint16_t kUsableStates =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

std::string address_text(int family, const void* bytes, std::size_t size) {
  if ((family == AF_INET && size != 4) || (family == AF_INET6 && size != 16)) return "";
  char text[INET6_ADDRSTRLEN] = {};
  return inet_ntop(family, bytes, text, sizeof text) ? text : "";
}

std::string mac_text(const unsigned char* b, std::size_t size) {
  if (size != 6) return "";
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return text;
}

RouteEvent event(RouteEvent::Kind kind, const nlmsghdr* h, std::uint16_t delete_type, int ifindex) {
  RouteEvent e;
  e.kind = kind;
  e.removed = h->nlmsg_type == delete_type;
  e.ifindex = ifindex;
  return e;
}

RouteEvent neighbour_event(const nlmsghdr* h) {
  const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
  RouteEvent e = event(RouteEvent::kNeighbour, h, RTM_DELNEIGH, nd->ndm_ifindex);
  e.state = nd->ndm_state;
  int left = static_cast<int>(RTM_PAYLOAD(h));
  for (const rtattr* a = RTM_RTA(nd); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    auto size = RTA_PAYLOAD(a);
    if (a->rta_type == NDA_DST) e.address = address_text(nd->ndm_family, RTA_DATA(a), size);
    else if (a->rta_type == NDA_LLADDR) e.lladdr = mac_text(static_cast<const unsigned char*>(RTA_DATA(a)), size);
  }
  return e;
}

template <typename Header>
const Header* payload(const nlmsghdr* h) {
  return h->nlmsg_len < NLMSG_LENGTH(sizeof(Header)) ? nullptr : static_cast<const Header*>(NLMSG_DATA(h));
}

std::optional<RouteEvent> parse_one(const nlmsghdr* h) {
  switch (h->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      if (auto* link = payload<ifinfomsg>(h)) return event(RouteEvent::kLink, h, RTM_DELLINK, link->ifi_index);
      return std::nullopt;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      if (auto* addr = payload<ifaddrmsg>(h))
        return event(RouteEvent::kAddress, h, RTM_DELADDR, static_cast<int>(addr->ifa_index));
      return std::nullopt;
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      if (auto* route = payload<rtmsg>(h)) {
        RouteEvent e = event(RouteEvent::kRoute, h, RTM_DELROUTE, 0);
        e.cloned = (route->rtm_flags & RTM_F_CLONED) != 0;
        return e;
      }
      return std::nullopt;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
      if (payload<ndmsg>(h)) return neighbour_event(h);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

bool is_next_hop_of(const RouteEvent& e, const TargetDependency& d) {
  return e.ifindex == d.ifindex && !e.address.empty() && same_value("remote_ip", e.address, d.next_hop);
}

bool neighbour_affects(const RouteEvent& e, const TargetDependency& d) {
  bool usable = (e.state & kUsableStates) && !e.lladdr.empty();
  // An unresolved target waits for any next hop to answer: it may be its.
  if (!d.resolved) return usable && !e.removed;
  if (!is_next_hop_of(e, d)) return false;
  if (e.removed || (e.state & NUD_FAILED)) return true;
  return usable && !same_value("remote_mac", e.lladdr, d.mac);
}

}  // namespace

std::vector<RouteEvent> parse_route_events(const void* data, std::size_t size) {
  std::vector<RouteEvent> events;
  int left = static_cast<int>(size);
  for (auto* h = static_cast<const nlmsghdr*>(data); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
    if (auto e = parse_one(h)) events.push_back(*e);
  return events;
}

bool affects(const RouteEvent& event, const std::vector<TargetDependency>& dependencies) {
  switch (event.kind) {
    case RouteEvent::kRoute: return !event.cloned;
    case RouteEvent::kLink:
    case RouteEvent::kAddress: return true;
    case RouteEvent::kNeighbour: break;
  }
  for (const TargetDependency& d : dependencies)
    if (neighbour_affects(event, d)) return true;
  return false;
}

RouteEvents::RouteEvents() : sock_(nl_socket_alloc()) {
  if (!sock_) throw Error("cannot allocate a netlink socket");
  nl_socket_disable_seq_check(sock_);
  int err = nl_connect(sock_, NETLINK_ROUTE);
  if (err >= 0) err = nl_socket_set_nonblocking(sock_);
  if (err >= 0) err = nl_socket_set_buffer_size(sock_, kReceiveBuffer, 0);
  if (err >= 0)
    err = nl_socket_add_memberships(sock_, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
                                    RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEIGH, 0);
  if (err < 0) {
    nl_socket_free(sock_);
    throw Error(std::string("cannot subscribe to rtnetlink: ") + nl_geterror(err));
  }
}

RouteEvents::~RouteEvents() { nl_socket_free(sock_); }

int RouteEvents::fd() const { return nl_socket_get_fd(sock_); }

RouteEventBatch RouteEvents::drain() {
  RouteEventBatch batch;
  alignas(nlmsghdr) static thread_local unsigned char buffer[1 << 16];
  for (int reads = 0; reads < kReadsPerDrain; ++reads) {
    // recv(2) itself, not libnl's nl_recv, which reports ENOBUFS as "out of memory".
    ssize_t n = ::recv(fd(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      batch.overflow = true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return batch;
    if (n < 0) throw Error(std::string("reading rtnetlink: ") + std::strerror(errno));
    auto events = parse_route_events(buffer, static_cast<std::size_t>(n));
    batch.events.insert(batch.events.end(), events.begin(), events.end());
  }
  return batch;
}

}  // namespace lastgasp::setup
