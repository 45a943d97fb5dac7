#include "allow_list.hpp"

#include <algorithm>

namespace lastgasp::hosts {

AllowList::AllowList(const std::vector<std::string>& cidrs) {
  std::string error;
  for (const std::string& text : cidrs)
    if (auto cidr = config::parse_cidr(text, error)) prefixes_.push_back(*cidr);
}

bool AllowList::allows(const SenderAddress& address) const {
  return prefixes_.empty() ||
         std::any_of(prefixes_.begin(), prefixes_.end(), [&](const config::Cidr& c) { return c.contains(address.bytes); });
}

}  // namespace lastgasp::hosts
