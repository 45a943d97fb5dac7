// RELP, rsyslog's Reliable Event Logging Protocol, with Debian's librelp (and
// RELP over TLS, "relp-tls", with librelp's OpenSSL driver): the destination
// answers every message, and a message leaves the spool only once its answer
// is known to have come.
//
// Threads. librelp's client is synchronous: its connect, its send (while the
// window of unanswered messages is full) and its close each wait on the
// network, up to kRelpTimeout. So it runs on the link's own thread, never on the
// writer or an event loop: the writer only pushes to the spool and wakes the
// link. librelp writes with plain send(), so the link's thread blocks SIGPIPE: a
// destination that goes away breaks the session instead of killing the daemon.
//
// What is known to be answered. librelp keeps its unanswered messages to itself;
// what it offers is its window: it sends a message only while fewer than
// kRelpWindow are unanswered, and rsyslog answers in order. So once message N is
// sent, every message up to N - kRelpWindow was answered, and leaves the spool.
// The last window is confirmed by closing the session once the spool runs dry:
// the answer to "close" comes after the answers to everything before it, and
// librelp calls its error callback when it does not come.
//
// Semantics: at least once. A session that breaks leaves at most a window of
// messages sent but not confirmed; the next session sends them again, so the
// destination may get up to kRelpWindow messages twice per break, each with the
// same identity (HOST, and boot and seq in the structured data). RELP's answer
// means rsyslog took the message into its queue: to keep it through a crash of
// rsyslog, the ruleset's queue must be direct or on disk (dist/rsyslog/central.conf).
#pragma once

#include <memory>

#include "link.hpp"

namespace lastgasp::forward {

inline constexpr int kRelpWindow = 128;          // librelp's default
inline constexpr unsigned kRelpTimeout = 10;     // seconds: a connect or an answer; past it the session is broken

std::unique_ptr<Link> make_relp_link(const config::Forward& settings, Spool& spool);

}  // namespace lastgasp::forward
