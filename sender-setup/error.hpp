// The one exception the subcommands throw: a sentence that tells the user what
// went wrong and what to do. main() prints it on one line and exits with 2.
#pragma once

#include <stdexcept>

namespace lastgasp::setup {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lastgasp::setup
