#include "path_resolver.hpp"

#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <algorithm>
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
  info.arp_off = flags & IFF_NOARP;
  if (nl_addr* own = rtnl_link_get_addr(link); own && nl_addr_get_len(own) == 6) info.mac = mac_text(own);
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

// What the kernel answered an RTM_GETROUTE: the route, or its errno.
struct RouteReply {
  RoutePtr route;
  int error = 0;
};

int on_route(nl_msg* msg, void* arg) {
  rtnl_route* route = nullptr;
  if (rtnl_route_parse(nlmsg_hdr(msg), &route) >= 0) static_cast<RouteReply*>(arg)->route.reset(route);
  return NL_OK;
}

// libnl folds most errnos into "Unspecific failure": keep the kernel's own.
int on_error(sockaddr_nl*, nlmsgerr* error, void* arg) {
  static_cast<RouteReply*>(arg)->error = -error->error;
  return NL_STOP;
}

constexpr int kValidNeighbourStates =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

bool is_multicast(const Address& a) {
  return a.family == AF_INET ? (a.bytes[0] & 0xf0) == 0xe0 : a.bytes[0] == 0xff;
}

bool is_limited_broadcast(const Address& a) {
  return a.family == AF_INET && a.bytes[0] == 0xff && a.bytes[1] == 0xff && a.bytes[2] == 0xff && a.bytes[3] == 0xff;
}

std::string broadcast_message(const std::string& address) {
  return "the receiver " + address + " is a broadcast address: netconsole sends to one receiver; give its own "
         "address";
}

// Multicast and the limited broadcast are known from the address alone; a
// subnet's broadcast address only from its route (RTN_BROADCAST).
Address unicast_destination(const std::string& text) {
  auto dst = parse_address(text);
  if (!dst) throw Error("'" + text + "' is not an IP address");
  if (is_multicast(*dst))
    throw Error("the receiver " + text + " is a multicast address: the receiver joins no group, so nothing "
                "would hear the console; give the receiver's own address");
  if (is_limited_broadcast(*dst)) throw Error(broadcast_message(text));
  return *dst;
}

MsgPtr route_request(const RouteQuery& query, const Address& dst, unsigned flags) {
  auto src = query.source.empty() ? std::nullopt : parse_address(query.source);
  if (src && src->family != dst.family) src.reset();
  MsgPtr msg(nlmsg_alloc_simple(RTM_GETROUTE, 0));
  rtmsg header{};
  header.rtm_family = static_cast<unsigned char>(dst.family);
  header.rtm_dst_len = static_cast<unsigned char>(dst.size() * 8);
  header.rtm_src_len = static_cast<unsigned char>(src ? src->size() * 8 : 0);
  header.rtm_flags = flags;
  if (!msg || nlmsg_append(msg.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0 ||
      nla_put(msg.get(), RTA_DST, static_cast<int>(dst.size()), dst.bytes) < 0 ||
      (src && nla_put(msg.get(), RTA_SRC, static_cast<int>(src->size()), src->bytes) < 0) ||
      (query.oif && nla_put_u32(msg.get(), RTA_OIF, static_cast<uint32_t>(*query.oif)) < 0))
    throw Error("cannot build a route request");
  return msg;
}

RouteReply ask_route(nl_sock* sock, const RouteQuery& query, const Address& dst, unsigned flags) {
  MsgPtr msg = route_request(query, dst, flags);
  RouteReply reply;
  // A callback of this request's own: the socket's default one outlives `reply`.
  nl_cb* socket_cb = nl_socket_get_cb(sock);  // a new reference
  std::unique_ptr<nl_cb, Deleter<nl_cb, nl_cb_put>> cb(nl_cb_clone(socket_cb));
  nl_cb_put(socket_cb);
  if (!cb) throw Error("cannot allocate a netlink callback");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_route, &reply);
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &reply);
  int err = nl_send_auto(sock, msg.get());
  if (err >= 0) err = nl_recvmsgs(sock, cb.get());
  // The kernel acks after the reply; left unread, the ack would answer the next request.
  if (err >= 0) err = nl_wait_for_ack(sock);
  if (err < 0 && reply.error == 0)
    throw Error(std::string("the kernel's route lookup failed: ") + nl_geterror(err));
  return reply;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) out += (out.empty() ? "" : ", ") + word;
  return out;
}

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

Route Netlink::route_to(const RouteQuery& query) {
  Address dst = unicast_destination(query.destination);
  // Forced out of a device with no route to the receiver, the kernel assumes the
  // receiver on-link there; only the FIB says whether a route really goes that way.
  if (query.oif && ask_route(sock_, query, dst, RTM_F_FIB_MATCH).error != 0)
    throw Error(not_reachable_through_message(query));
  RouteReply reply = ask_route(sock_, query, dst, 0);
  if (reply.error != 0 || !reply.route) throw Error(no_route_message(query, reply.error));
  rtnl_route* route = reply.route.get();
  const std::string& address = query.destination;
  if (rtnl_route_get_type(route) == RTN_LOCAL)
    throw Error("the receiver " + address + " is an address of this host: name a receiver on another machine");
  if (rtnl_route_get_type(route) == RTN_BROADCAST) throw Error(broadcast_message(address));
  if (rtnl_route_get_nnexthops(route) < 1) throw Error("the route to " + address + " has no next hop");
  rtnl_nexthop* hop = rtnl_route_nexthop_n(route, 0);
  Route out;
  out.ifindex = rtnl_route_nh_get_ifindex(hop);
  // Asked from a source, the kernel leaves out RTA_PREFSRC: the source is the one asked.
  out.source = address_text(rtnl_route_get_pref_src(route));
  if (out.source.empty()) out.source = query.source;
  if (nl_addr* gw = rtnl_route_nh_get_gateway(hop)) out.gateway = address_text(gw);
  return out;
}

std::string Netlink::no_route_message(const RouteQuery& query, int error) {
  std::string message = "no route to the receiver " + query.destination;
  if (!query.source.empty())
    message += " from " + query.source + " (an 'ip rule from " + query.source + "' may send it to a table without one)";
  std::vector<std::string> down = down_devices_with_addresses(parse_address(query.destination)->family);
  if (!down.empty()) return message + ": " + join(down) + ", then run this again";
  if (error != 0) message += " (" + std::string(std::strerror(error)) + ")";
  return message + ": add a route or an address on the receiver's network, then run this again";
}

std::string Netlink::not_reachable_through_message(const RouteQuery& query) {
  std::string device = link_by_index(*query.oif).value_or(LinkInfo{}).name;
  std::string message = "the receiver " + query.destination + " is not reachable through " + device;
  RouteQuery unforced = query;
  unforced.oif.reset();
  RouteReply reply = ask_route(sock_, unforced, unicast_destination(query.destination), 0);
  if (reply.error != 0 || !reply.route || rtnl_route_get_nnexthops(reply.route.get()) < 1)
    return message + " (no route reaches it at all): add a route to it through " + device;
  rtnl_nexthop* hop = rtnl_route_nexthop_n(reply.route.get(), 0);
  std::string other = link_by_index(rtnl_route_nh_get_ifindex(hop)).value_or(LinkInfo{}).name;
  nl_addr* gateway = rtnl_route_nh_get_gateway(hop);
  std::string way = gateway ? "via " + address_text(gateway) + " on " + other : "directly on " + other;
  return message + " (the route goes " + way + "): use --dev " + other + " or leave --dev out, or add a route to " +
         query.destination + " through " + device;
}

// The devices whose being down explains a missing route: a device's routes go
// when it is taken down, its addresses stay. (Without carrier its IPv4 routes
// stay, so an unplugged docker0 explains nothing.)
std::vector<std::string> Netlink::down_devices_with_addresses(int family) {
  std::vector<std::string> down;
  nl_cache* raw_cache = nullptr;
  if (rtnl_addr_alloc_cache(sock_, &raw_cache) < 0) return down;
  CachePtr cache(raw_cache);
  std::vector<int> seen;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    int ifindex = rtnl_addr_get_ifindex(addr);
    if (rtnl_addr_get_family(addr) != family || std::find(seen.begin(), seen.end(), ifindex) != seen.end()) continue;
    seen.push_back(ifindex);
    auto link = link_by_index(ifindex);
    if (!link || link->arp_type == ARPHRD_LOOPBACK) continue;
    if (!link->up) down.push_back("device " + link->name + " is down (bring it up: ip link set " + link->name + " up)");
  }
  return down;
}

std::optional<Neighbour> Netlink::neighbour(int ifindex, const std::string& address) {
  auto dst = parse_address(address);
  if (!dst) return std::nullopt;
  nl_cache* raw_cache = nullptr;
  if (rtnl_neigh_alloc_cache(sock_, &raw_cache) < 0) return std::nullopt;
  CachePtr cache(raw_cache);
  AddrPtr addr(nl_addr_build(dst->family, dst->bytes, dst->size()));
  rtnl_neigh* neigh = rtnl_neigh_get(cache.get(), ifindex, addr.get());
  if (!neigh) return std::nullopt;
  std::optional<Neighbour> found;
  nl_addr* lladdr = rtnl_neigh_get_lladdr(neigh);
  int state = rtnl_neigh_get_state(neigh);
  if ((state & kValidNeighbourStates) && lladdr && nl_addr_get_len(lladdr) == 6)
    found = Neighbour{.mac = mac_text(lladdr), .noarp = (state & NUD_NOARP) != 0};
  rtnl_neigh_put(neigh);
  return found;
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

std::optional<std::string> unresolved_neighbour_reason(const Neighbour& neighbour, const LinkInfo& link,
                                                       const std::string& next_hop) {
  std::string advice = ": give the MAC of " + next_hop + " with --mac XX:XX:XX:XX:XX:XX (see 'ip neigh' on a host "
                       "that reaches it)";
  if (neighbour.noarp)
    return "the kernel cannot learn the MAC of " + next_hop + " on " + link.name + ": " +
           (link.arp_off ? "ARP is off on " + link.name + " (ip link set " + link.name + " arp on turns it on)"
                         : "its neighbour entry is NOARP") +
           advice;
  if (neighbour.mac == link.mac)
    return "the neighbour entry of " + next_hop + " holds " + link.name + "'s own MAC " + link.mac + advice;
  return std::nullopt;
}

namespace {

socklen_t socket_address(const Address& address, std::uint16_t port, int ifindex, sockaddr_storage& out) {
  out = {};
  if (address.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, address.bytes, 4);
    return sizeof *sin;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, address.bytes, 16);
  sin6->sin6_scope_id = static_cast<uint32_t>(ifindex);  // read for link-local addresses only
  return sizeof *sin6;
}

// Sends one datagram to RECEIVER's discard port (9: nothing listens) as the panic's
// would leave: out of LINK, from SOURCE, which policy routing may route by. The
// kernel then resolves the next hop's neighbour entry.
void provoke_neighbour_resolution(const std::string& receiver, const std::string& source, const LinkInfo& link) {
  auto dst = parse_address(receiver);
  if (!dst) return;
  int fd = ::socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, link.name.c_str(), static_cast<socklen_t>(link.name.size()));
  sockaddr_storage address;
  if (auto src = parse_address(source); src && src->family == dst->family)
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), socket_address(*src, 0, link.ifindex, address));
  socklen_t len = socket_address(*dst, 9, link.ifindex, address);
  const char probe[] = "lastgasp-setup: resolving the next hop\n";
  // Failure is fine: the point is the neighbour lookup the kernel starts.
  (void)::sendto(fd, probe, sizeof probe - 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&address), len);
  ::close(fd);
}

// A MAC given with --mac stands in for the neighbour table, but not against it:
// a next hop that answers with another MAC means the given one is wrong.
void check_given_mac(Netlink& netlink, const LinkInfo& link, const std::string& next_hop, const std::string& mac) {
  if (mac == link.mac)
    throw Error("--mac " + mac + " is " + link.name + "'s own MAC: give the MAC of " + next_hop);
  auto answered = netlink.neighbour(link.ifindex, next_hop);
  if (answered && !unresolved_neighbour_reason(*answered, link, next_hop) && answered->mac != mac)
    throw Error("--mac " + mac + " is not the MAC of " + next_hop + " on " + link.name + ", which answers as " +
                answered->mac + ": leave --mac out, or correct it");
}

std::string unresolved_message(const NetPath& path, const ResolveOptions& options) {
  std::string which = path.gateway ? "the gateway " + path.next_hop : "the receiver " + path.next_hop;
  return "the MAC of " + which + " on " + path.device + " did not resolve within " +
         std::to_string(options.neighbour_timeout.count()) + " ms: check that " + path.next_hop +
         " is up and answers ARP/neighbour discovery on " + path.device +
         (path.gateway ? "" : ", or use --allow-broadcast on a trusted segment");
}

// The route, asked a second time from the source the first answer chose: a rule
// like 'ip rule from SOURCE lookup T' makes the kernel send that source's traffic
// another way, and that way is the one the panic's datagrams take.
Route route_from_chosen_source(Netlink& netlink, const std::string& receiver, std::optional<int> oif) {
  Route first = netlink.route_to({.destination = receiver, .oif = oif, .source = ""});
  if (first.source.empty()) return first;
  return netlink.route_to({.destination = receiver, .oif = oif, .source = first.source});
}

}  // namespace

std::optional<Neighbour> wait_for_neighbour(Netlink& netlink, const LinkInfo& link, const Route& route,
                                            const std::string& receiver, std::chrono::milliseconds timeout) {
  std::string next_hop = route.gateway.value_or(receiver);
  auto deadline = Clock::now() + timeout;
  auto next_probe = Clock::now();
  std::optional<Neighbour> found = netlink.neighbour(link.ifindex, next_hop);
  while (!found && Clock::now() < deadline) {
    if (Clock::now() >= next_probe) {
      provoke_neighbour_resolution(receiver, route.source, link);
      next_probe = Clock::now() + std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    found = netlink.neighbour(link.ifindex, next_hop);
  }
  return found;
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
  Route route = route_from_chosen_source(netlink, receiver, oif);
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

  if (options.mac) {
    check_given_mac(netlink, *link, path.next_hop, *options.mac);
    path.mac = *options.mac;
    path.mac_origin = MacOrigin::kGiven;
    return path;
  }
  // A dry run sends nothing, the probe from the route's source included: only the
  // neighbour table answers.
  std::optional<Neighbour> neighbour =
      options.send_probes ? wait_for_neighbour(netlink, *link, route, receiver, options.neighbour_timeout)
                          : netlink.neighbour(link->ifindex, path.next_hop);
  if (!neighbour && !options.send_probes) {
    // With ARP off, no probe would help either: say so, as a real run would.
    if (link->arp_off) throw Error(*unresolved_neighbour_reason({.mac = "", .noarp = true}, *link, path.next_hop));
    throw Error("the MAC of " + path.next_hop + " on " + path.device + " is not in the neighbour table yet, and "
                "--dry-run sends nothing to make the kernel resolve it: ping " + path.next_hop + " first, or run "
                "without --dry-run");
  }
  if (neighbour) {
    if (auto reason = unresolved_neighbour_reason(*neighbour, *link, path.next_hop)) throw Error(*reason);
    path.mac = neighbour->mac;
    return path;
  }
  if (options.allow_broadcast && !path.gateway) {
    path.mac = kBroadcastMac;
    path.mac_origin = MacOrigin::kBroadcast;
    return path;
  }
  throw Error(unresolved_message(path, options));
}

}  // namespace lastgasp::setup
