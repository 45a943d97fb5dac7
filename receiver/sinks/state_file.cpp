#include "state_file.hpp"

#include <unistd.h>

namespace lastgasp::sinks {

namespace {

constexpr std::size_t kMaxStateBytes = 64 * 1024;

}  // namespace

std::optional<hosts::HostState> load_host_state(const LogDirectory& dir, const std::string& host) {
  int fd = dir.open_read(host, kStateFile);
  if (fd < 0) return std::nullopt;
  std::string text(kMaxStateBytes, '\0');
  ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n <= 0) return std::nullopt;
  text.resize(static_cast<std::size_t>(n));
  return hosts::HostState::from_json(text);
}

bool save_host_state(const LogDirectory& dir, const std::string& host, hosts::HostState& state) {
  if (!dir.replace(host, kStateFile, state.to_json())) return false;
  state.dirty = false;
  return true;
}

}  // namespace lastgasp::sinks
