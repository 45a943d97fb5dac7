// Route and neighbour resolution with libnl-route-3: which device, source
// address and next hop reach the receiver, and the next hop's MAC. netpoll never
// ARPs or routes, so the MAC written to the target must be the next hop's: the
// gateway's when the receiver is off-link, the receiver's own when it is on-link.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nl_sock;

namespace lastgasp::setup {

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;          // rtnl link type: "veth", "bridge", "wireguard", "" for plain hardware
  unsigned arp_type = 0;     // ARPHRD_*
  bool up = false;
  bool carrier = false;
  bool arp_off = false;      // IFF_NOARP: the kernel cannot learn a neighbour's MAC here
  std::string mac;           // the device's own MAC, lowercase
  std::string master;        // the bond or bridge this device is a port of, if any
  std::string master_kind;
};

// An RTM_GETROUTE question: the route to DESTINATION, optionally forced out of
// OIF (--dev) and from SOURCE, as policy routing (ip rule from SOURCE) decides by it.
struct RouteQuery {
  std::string destination;
  std::optional<int> oif;
  std::string source;  // empty: the kernel picks one
};

struct Route {
  int ifindex = 0;
  std::string source;                 // preferred source address
  std::optional<std::string> gateway;  // absent when the destination is on-link
};

// A neighbour table entry in a state the kernel sends with.
struct Neighbour {
  std::string mac;     // lowercase aa:bb:cc:dd:ee:ff
  bool noarp = false;  // NUD_NOARP: the kernel made it up (the device's own MAC), nothing answered
};

// Where a path's MAC came from: the kernel's neighbour table, --mac, or --allow-broadcast.
enum class MacOrigin { kNeighbour, kGiven, kBroadcast };

struct NetPath {
  std::string receiver;  // numeric address
  std::string device;
  std::string source;
  std::optional<std::string> gateway;
  std::string next_hop;  // the gateway, or the receiver when on-link
  std::string mac;       // the next hop's MAC, lowercase aa:bb:cc:dd:ee:ff
  MacOrigin mac_origin = MacOrigin::kNeighbour;
};

inline constexpr const char* kBroadcastMac = "ff:ff:ff:ff:ff:ff";

class Netlink {
 public:
  Netlink();
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  std::optional<LinkInfo> link_by_name(const std::string& name);
  std::optional<LinkInfo> link_by_index(int ifindex);
  // The kernel's unicast route for QUERY. Throws Error naming the receiver when
  // there is none, when it is local, broadcast or multicast, and when QUERY.oif
  // has no route to it (the kernel would then just assume it on-link).
  Route route_to(const RouteQuery& query);
  // The neighbour entry for ADDRESS on IFINDEX, if it is in a state the kernel sends with.
  std::optional<Neighbour> neighbour(int ifindex, const std::string& address);

 private:
  // Why there is no route to QUERY, for the error: the devices that are down, the policy rule.
  std::string no_route_message(const RouteQuery& query, int error);
  std::string not_reachable_through_message(const RouteQuery& query);
  std::vector<std::string> down_devices_with_addresses(int family);

  nl_sock* sock_;
};

// Why netpoll cannot send through LINK, as advice; nullopt when it can.
std::optional<std::string> unusable_device_reason(const LinkInfo& link, bool wireless);

// Why NEIGHBOUR does not tell the next hop's MAC on LINK (a NOARP entry, or the
// device's own MAC), as advice naming --mac; nullopt when it does.
std::optional<std::string> unresolved_neighbour_reason(const Neighbour& neighbour, const LinkInfo& link,
                                                       const std::string& next_hop);

// The neighbour entry of ROUTE's next hop on LINK, making the kernel resolve it
// (a datagram toward RECEIVER from ROUTE's source) and waiting up to TIMEOUT for
// any entry, NOARP included.
std::optional<Neighbour> wait_for_neighbour(Netlink& netlink, const LinkInfo& link, const Route& route,
                                            const std::string& receiver, std::chrono::milliseconds timeout);

struct ResolveOptions {
  std::optional<std::string> device;  // --dev
  std::optional<std::string> mac;     // --mac: the next hop's MAC, for links that cannot resolve it
  std::chrono::milliseconds neighbour_timeout{3000};
  bool allow_broadcast = false;
  // false with --dry-run, which sends nothing: only the neighbour table answers.
  bool send_probes = true;
  // Whether the device is Wi-Fi, which netpoll cannot rely on.
  std::function<bool(const std::string& device)> is_wireless;
};

// The full path to RECEIVER (a numeric address): route, device checks, and the
// next hop's MAC, making the kernel resolve it when needed. Throws Error.
NetPath resolve_path(Netlink& netlink, const std::string& receiver, const ResolveOptions& options);

}  // namespace lastgasp::setup
