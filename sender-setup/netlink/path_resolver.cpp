#include "path_resolver.hpp"

#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <cstring>
#include <thread>

#include "error.hpp"

namespace lastgasp::setup {

namespace {

using Clock = std::chrono::steady_clock;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { if (p) Free(p); }
};
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using MsgPtr = std::unique_ptr<nl_msg, Deleter<nl_msg, nlmsg_free>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;

struct Address {
  int family = AF_UNSPEC;
  unsigned char bytes[16] = {};
  std::size_t size() const { return family == AF_INET ? 4 : 16; }
};

std::optional<Address> parse_address(const std::string& text) {
  Address a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes) == 1) a.family = AF_INET;
  else if (inet_pton(AF_INET6, text.c_str(), a.bytes) == 1) a.family = AF_INET6;
  else return std::nullopt;
  return a;
}

std::string address_text(nl_addr* addr) {
  if (!addr) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(nl_addr_get_family(addr), nl_addr_get_binary_addr(addr), buf, sizeof buf)) return "";
  return buf;
}

std::string mac_text(nl_addr* addr) {
  const auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(addr));
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

LinkInfo describe(nl_sock* sock, rtnl_link* link) {
  LinkInfo info;
  info.ifindex = rtnl_link_get_ifindex(link);
  info.name = rtnl_link_get_name(link) ? rtnl_link_get_name(link) : "";
  info.kind = rtnl_link_get_type(link) ? rtnl_link_get_type(link) : "";
  info.arp_type = rtnl_link_get_arptype(link);
  unsigned flags = rtnl_link_get_flags(link);
  info.up = flags & IFF_UP;
  info.carrier = flags & IFF_LOWER_UP;
  if (int master = rtnl_link_get_master(link); master > 0) {
    rtnl_link* raw = nullptr;
    if (rtnl_link_get_kernel(sock, master, nullptr, &raw) >= 0 && raw) {
      LinkPtr upper(raw);
      info.master = rtnl_link_get_name(upper.get());
      info.master_kind = rtnl_link_get_type(upper.get()) ? rtnl_link_get_type(upper.get()) : "";
    } else {
      info.master = "ifindex " + std::to_string(master);
    }
  }
  return info;
}

struct RouteReply {
  RoutePtr route;
};

int on_route(nl_msg* msg, void* arg) {
  rtnl_route* route = nullptr;
  if (rtnl_route_parse(nlmsg_hdr(msg), &route) >= 0) static_cast<RouteReply*>(arg)->route.reset(route);
  return NL_OK;
}

constexpr int kValidNeighbourStates =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

}  // namespace

Netlink::Netlink() : sock_(nl_socket_alloc()) {
  if (!sock_) throw Error("cannot allocate a netlink socket");
  if (int err = nl_connect(sock_, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sock_);
    throw Error(std::string("cannot open a route netlink socket: ") + nl_geterror(err));
  }
}

Netlink::~Netlink() { nl_socket_free(sock_); }

std::optional<LinkInfo> Netlink::link_by_name(const std::string& name) {
  rtnl_link* raw = nullptr;
  if (rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw) < 0 || !raw) return std::nullopt;
  LinkPtr link(raw);
  return describe(sock_, link.get());
}

std::optional<LinkInfo> Netlink::link_by_index(int ifindex) {
  rtnl_link* raw = nullptr;
  if (rtnl_link_get_kernel(sock_, ifindex, nullptr, &raw) < 0 || !raw) return std::nullopt;
  LinkPtr link(raw);
  return describe(sock_, link.get());
}

Route Netlink::route_to(const std::string& address, std::optional<int> oif) {
  auto dst = parse_address(address);
  if (!dst) throw Error("'" + address + "' is not an IP address");
  MsgPtr msg(nlmsg_alloc_simple(RTM_GETROUTE, 0));
  rtmsg header{};
  header.rtm_family = static_cast<unsigned char>(dst->family);
  header.rtm_dst_len = static_cast<unsigned char>(dst->size() * 8);
  if (!msg || nlmsg_append(msg.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0 ||
      nla_put(msg.get(), RTA_DST, static_cast<int>(dst->size()), dst->bytes) < 0 ||
      (oif && nla_put_u32(msg.get(), RTA_OIF, static_cast<uint32_t>(*oif)) < 0))
    throw Error("cannot build a route request");

  RouteReply reply;
  // A callback of this request's own: the socket's default one outlives `reply`.
  nl_cb* socket_cb = nl_socket_get_cb(sock_);  // a new reference
  std::unique_ptr<nl_cb, Deleter<nl_cb, nl_cb_put>> cb(nl_cb_clone(socket_cb));
  nl_cb_put(socket_cb);
  if (!cb) throw Error("cannot allocate a netlink callback");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_route, &reply);
  int err = nl_send_auto(sock_, msg.get());
  if (err >= 0) err = nl_recvmsgs(sock_, cb.get());
  // The kernel acks after the reply; left unread, the ack would answer the next request.
  if (err >= 0) err = nl_wait_for_ack(sock_);
  if (err < 0 || !reply.route)
    throw Error("no route to the receiver " + address + " (" + (err < 0 ? nl_geterror(err) : "empty reply") +
                "): add a route or an address on the receiver's network, then run this again");
  rtnl_route* route = reply.route.get();
  if (rtnl_route_get_type(route) == RTN_LOCAL)
    throw Error("the receiver " + address + " is an address of this host: name a receiver on another machine");
  if (rtnl_route_get_nnexthops(route) < 1) throw Error("the route to " + address + " has no next hop");
  rtnl_nexthop* hop = rtnl_route_nexthop_n(route, 0);
  Route out;
  out.ifindex = rtnl_route_nh_get_ifindex(hop);
  out.source = address_text(rtnl_route_get_pref_src(route));
  if (nl_addr* gw = rtnl_route_nh_get_gateway(hop)) out.gateway = address_text(gw);
  return out;
}

std::optional<std::string> Netlink::neighbour_mac(int ifindex, const std::string& address) {
  auto dst = parse_address(address);
  if (!dst) return std::nullopt;
  nl_cache* raw_cache = nullptr;
  if (rtnl_neigh_alloc_cache(sock_, &raw_cache) < 0) return std::nullopt;
  CachePtr cache(raw_cache);
  AddrPtr addr(nl_addr_build(dst->family, dst->bytes, dst->size()));
  rtnl_neigh* neigh = rtnl_neigh_get(cache.get(), ifindex, addr.get());
  if (!neigh) return std::nullopt;
  std::optional<std::string> mac;
  nl_addr* lladdr = rtnl_neigh_get_lladdr(neigh);
  if ((rtnl_neigh_get_state(neigh) & kValidNeighbourStates) && lladdr && nl_addr_get_len(lladdr) == 6)
    mac = mac_text(lladdr);
  rtnl_neigh_put(neigh);
  return mac;
}

std::optional<std::string> unusable_device_reason(const LinkInfo& link, bool wireless) {
  const std::string& dev = link.name;
  if (!link.master.empty())
    return dev + " is a port of the " + (link.master_kind.empty() ? "master" : link.master_kind) + " " +
           link.master + ", and netpoll refuses ports: use --dev " + link.master + " instead";
  if (wireless)
    return dev + " is a wireless device, and netpoll over Wi-Fi is unreliable at panic time: use a wired "
                 "Ethernet interface";
  if (link.arp_type == ARPHRD_LOOPBACK)
    return dev + " is the loopback device: name a receiver on another machine";
  if (link.arp_type != ARPHRD_ETHER)
    return dev + " is not an Ethernet link (" + (link.kind.empty() ? "ARP type " + std::to_string(link.arp_type) : link.kind) +
           "); netconsole builds Ethernet frames itself: use the Ethernet interface underneath, with --dev";
  if (!link.up) return dev + " is down: bring it up (ip link set " + dev + " up) and run this again";
  if (!link.carrier) return dev + " has no carrier: plug in its cable or pick another device with --dev";
  return std::nullopt;
}

void provoke_neighbour_resolution(const std::string& address, const std::string& device) {
  auto dst = parse_address(address);
  if (!dst) return;
  int fd = ::socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.c_str(), static_cast<socklen_t>(device.size()));
  sockaddr_storage to{};
  socklen_t len = 0;
  if (dst->family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&to);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(9);
    std::memcpy(&sin->sin_addr, dst->bytes, 4);
    len = sizeof *sin;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(9);
    std::memcpy(&sin6->sin6_addr, dst->bytes, 16);
    len = sizeof *sin6;
  }
  const char probe[] = "lastgasp-setup: resolving the next hop\n";
  // Failure is fine: the point is the neighbour lookup the kernel starts.
  (void)::sendto(fd, probe, sizeof probe - 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), len);
  ::close(fd);
}

NetPath resolve_path(Netlink& netlink, const std::string& receiver, const ResolveOptions& options) {
  std::optional<int> oif;
  if (options.device) {
    auto link = netlink.link_by_name(*options.device);
    if (!link) throw Error("unknown interface '" + *options.device + "': see 'ip link' for the names");
    bool wireless = options.is_wireless && options.is_wireless(link->name);
    if (auto reason = unusable_device_reason(*link, wireless)) throw Error(*reason);
    oif = link->ifindex;
  }
  Route route = netlink.route_to(receiver, oif);
  auto link = netlink.link_by_index(route.ifindex);
  if (!link) throw Error("the route to " + receiver + " leaves through ifindex " + std::to_string(route.ifindex) +
                         ", which is gone");
  bool wireless = options.is_wireless && options.is_wireless(link->name);
  if (auto reason = unusable_device_reason(*link, wireless)) throw Error(*reason);

  NetPath path;
  path.receiver = receiver;
  path.device = link->name;
  path.source = route.source;
  path.gateway = route.gateway;
  path.next_hop = route.gateway.value_or(receiver);
  if (path.source.empty())
    throw Error("the route to " + receiver + " via " + path.device + " has no source address: give " +
                path.device + " an address first");

  auto deadline = Clock::now() + options.neighbour_timeout;
  auto next_probe = Clock::now();
  std::optional<std::string> mac = netlink.neighbour_mac(route.ifindex, path.next_hop);
  if (!mac && !options.send_probes)
    throw Error("the MAC of " + path.next_hop + " on " + path.device + " is not in the neighbour table yet, and "
                "--dry-run sends nothing to make the kernel resolve it: ping " + path.next_hop + " first, or run "
                "without --dry-run");
  while (!mac && Clock::now() < deadline) {
    if (Clock::now() >= next_probe) {
      provoke_neighbour_resolution(receiver, path.device);
      next_probe = Clock::now() + std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    mac = netlink.neighbour_mac(route.ifindex, path.next_hop);
  }
  if (mac) {
    path.mac = *mac;
    return path;
  }
  std::string which = path.gateway ? "the gateway " + path.next_hop : "the receiver " + path.next_hop;
  if (options.allow_broadcast && !path.gateway) {
    path.mac = kBroadcastMac;
    path.mac_is_broadcast = true;
    return path;
  }
  throw Error("the MAC of " + which + " on " + path.device + " did not resolve within " +
              std::to_string(options.neighbour_timeout.count()) + " ms: check that " + path.next_hop +
              " is up and answers ARP/neighbour discovery on " + path.device +
              (path.gateway ? "" : ", or use --allow-broadcast on a trusted segment"));
}

}  // namespace lastgasp::setup
