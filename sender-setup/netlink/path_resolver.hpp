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

struct nl_sock;

namespace lastgasp::setup {

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;          // rtnl link type: "veth", "bridge", "wireguard", "" for plain hardware
  unsigned arp_type = 0;     // ARPHRD_*
  bool up = false;
  bool carrier = false;
  std::string master;        // the bond or bridge this device is a port of, if any
  std::string master_kind;
};

struct Route {
  int ifindex = 0;
  std::string source;                 // preferred source address
  std::optional<std::string> gateway;  // absent when the destination is on-link
};

struct NetPath {
  std::string receiver;  // numeric address
  std::string device;
  std::string source;
  std::optional<std::string> gateway;
  std::string next_hop;  // the gateway, or the receiver when on-link
  std::string mac;       // the next hop's MAC, lowercase aa:bb:cc:dd:ee:ff
  bool mac_is_broadcast = false;
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
  // The kernel's route to ADDRESS (RTM_GETROUTE), optionally forced out of OIF.
  // Throws Error naming the receiver when there is none.
  Route route_to(const std::string& address, std::optional<int> oif);
  // The MAC of a valid neighbour entry for ADDRESS on IFINDEX, if there is one.
  std::optional<std::string> neighbour_mac(int ifindex, const std::string& address);

 private:
  nl_sock* sock_;
};

// Why netpoll cannot send through LINK, as advice; nullopt when it can.
std::optional<std::string> unusable_device_reason(const LinkInfo& link, bool wireless);

struct ResolveOptions {
  std::optional<std::string> device;  // --dev
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

// Sends one datagram toward ADDRESS out of DEVICE, so that the kernel resolves
// the next hop's neighbour entry. Port 9 is discard: nothing listens there.
void provoke_neighbour_resolution(const std::string& address, const std::string& device);

}  // namespace lastgasp::setup
