// RFC 5424 over TCP or TLS with octet-counting framing (RFC 6587, RFC 5425),
// on Boost.Asio: the link's thread runs an event loop of its own. TLS is a
// layer over the same socket, verified against ca_file.
//
// Plain TCP has no acknowledgement: a write the kernel took counts as sent, and
// what it took before the peer went away is lost with the connection (a read
// that ends tells it went). RELP (relp_link.hpp) is the answer where that matters.
#pragma once

#include <memory>

#include "link.hpp"

namespace lastgasp::forward {

std::unique_ptr<Link> make_stream_link(const config::Forward& settings, Spool& spool);

}  // namespace lastgasp::forward
