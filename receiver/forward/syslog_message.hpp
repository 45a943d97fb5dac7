// One record as one syslog message, RFC 5424, for the pipelines people run
// (rsyslog, syslog-ng), framed by octet counting (RFC 6587) for TCP and TLS:
//
//   <PRI>1 RECV_TIME HOST APP - MSGID [lastgasp@32473 seq=".." ktime_usec=".." boot=".." src=".." event=".." F...] TEXT
//
// PRI   the record's own facility and level, as the kernel sent them (not the
//       journal's clamp); a facility RFC 5424 cannot carry (above 23) is sent as
//       kern and kept in facility="N". Our own lines: kern, with the level their
//       event deserves (a panic's is crit).
// HOST  the host's directory name, the same name as on the receiver's disk.
// APP   "kernel" for the kernel's records, "lastgasp" for lines of our own.
// MSGID "-" for records; panic, incident, gap, reboot, pstore for our own lines.
// SD    one element: where the record sits in the host's history, so that a
//       destination can drop a duplicate by (HOST, boot, seq) after a replay,
//       then the record's fields, each a PARAM of its key. RFC 5424 allows a
//       PARAM-NAME more than once; a key it cannot carry as a name (longer than
//       32, or with '=', ' ', ']', '"', or one of the element's own names)
//       goes whole into field="key=value".
// TEXT  the record's text as written to console.log: every control byte \xNN,
//       so one message is one line whatever the host sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sinks/log_line.hpp"
#include "stream/event.hpp"

namespace lastgasp::forward {

// Private Enterprise Number for the structured-data ID: IANA's "example" one
// until the project has its own (RFC 5612).
inline constexpr std::string_view kSdId = "lastgasp@32473";

struct Origin {
  std::string_view host;             // the host's directory name
  std::uint64_t boot = 0;            // which of the host's boots, as counted in its state
  std::optional<std::uint16_t> src;  // the sender's port, once the host has several streams
};

class SyslogFormatter {
 public:
  // Appends one message, without framing or newline.
  void append(std::string& out, const stream::Event& event, const Origin& origin);

 private:
  sinks::TimeFormatter time_;
};

// Appends MESSAGE framed by octet counting: "LEN MESSAGE".
void append_octet_counted(std::string& out, std::string_view message);

// RFC 5424's PARAM-VALUE escaping: '"', '\' and ']' get a backslash.
void append_param_value(std::string& out, std::string_view value);

// Whether TEXT can be an SD-NAME: 1 to 32 printable US-ASCII, none of '=', ' ', ']', '"'.
bool is_sd_name(std::string_view text);

}  // namespace lastgasp::forward
