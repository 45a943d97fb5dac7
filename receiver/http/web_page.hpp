// The page at /: the fleet as a sortable table (from /api/hosts) and a host's
// live console (from /api/stream), in one self-contained document with no
// outside script, style or font, so it works on an isolated management network.
// Whatever a sender sent is put in the page as text (textContent), never as markup.
#pragma once

#include <string_view>

namespace lastgasp::http {

std::string_view web_page();

}  // namespace lastgasp::http
