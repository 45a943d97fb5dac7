// Which sender addresses the daemon takes netconsole and uploads from: the
// config's `allow` list, or everyone when it is empty.
#pragma once

#include <string>
#include <vector>

#include "cidr.hpp"
#include "sender_address.hpp"

namespace lastgasp::hosts {

class AllowList {
 public:
  AllowList() = default;
  // The config loader has validated CIDRS; an entry that does not parse is skipped.
  explicit AllowList(const std::vector<std::string>& cidrs);

  bool allows(const SenderAddress& address) const;

 private:
  std::vector<config::Cidr> prefixes_;
};

}  // namespace lastgasp::hosts
