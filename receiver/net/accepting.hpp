// What every TCP listener of the daemon does alike (the upload endpoint, the
// HTTP server): open a listening socket, tell when accept failed for want of
// descriptors, and turn a surplus connection away without waiting for it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <string_view>

namespace lastgasp::net {

// Out of file descriptors (or kernel memory), accept fails at once for as long
// as it lasts: retrying at once would spin the event loop, so the caller pauses.
bool out_of_descriptors(const boost::system::error_code& ec);
inline constexpr std::chrono::milliseconds kAcceptPause{100};

// Opens ACCEPTOR listening on ADDRESS ("[::]:6666", dual-stack for "[::]"); throws
// std::system_error naming ADDRESS and WHAT, or std::invalid_argument.
void listen_on(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address, const std::string& what);

// Answers a connection that gets no session with BYTES, if the socket takes them
// at once, and closes it: it never waits for the peer, so it holds nothing.
void turn_away(boost::asio::ip::tcp::socket& socket, std::string_view bytes);

}  // namespace lastgasp::net
