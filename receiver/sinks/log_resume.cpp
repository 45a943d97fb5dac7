#include "log_resume.hpp"

#include <unistd.h>

#include <algorithm>

#include "file_sink.hpp"
#include "numbers.hpp"
#include "log_line.hpp"

namespace lastgasp::sinks {

namespace {

constexpr std::size_t kTailBytes = 256 * 1024;
constexpr std::size_t kTailLines = 4096;
constexpr std::size_t kMaxStreams = 64;

}  // namespace

std::vector<ResumePoint> read_resume_points(const LogDirectory& dir, const std::string& host) {
  int fd = dir.open_read(host, kConsoleLog);
  if (fd < 0) return {};
  std::vector<std::string> lines = read_last_lines(fd, kTailLines, kTailBytes);
  ::close(fd);
  std::vector<ResumePoint> points;
  for (auto it = lines.rbegin(); it != lines.rend() && points.size() < kMaxStreams; ++it) {
    auto line = split_log_line(*it);
    if (!line || line->level == "lastgasp") continue;
    auto seq = parse_number<std::uint64_t>(line->seq);
    auto ktime = parse_ktime(line->ktime);
    if (!seq || !ktime) continue;
    std::optional<std::uint16_t> port;
    if (auto src = field_value(line->fields, "src")) port = parse_number<std::uint16_t>(*src);
    bool known = std::any_of(points.begin(), points.end(), [&](const ResumePoint& p) { return p.port == port; });
    if (!known) points.push_back({port, {*seq, *ktime}});
  }
  return points;
}

}  // namespace lastgasp::sinks
