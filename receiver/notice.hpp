// The daemon's own messages, to stderr (the journal, under systemd), each
// prefixed with a syslog level so journald files them right when stderr is the
// journal's stream, and plain anywhere else.
#pragma once

#include <string_view>

namespace lastgasp {

enum class Severity { error = 3, warning = 4, info = 6 };

void notice(Severity severity, std::string_view message);

}  // namespace lastgasp
