// lastgasp-recvmmsg-counter: the bare baseline receiver. It does what any receiver must do
// and nothing else: recvmmsg batches from one UDP socket with the same 8 MiB SO_RCVBUFFORCE
// buffer and SO_RXQ_OVFL as lastgasp-receiver, and counts datagrams and records (a record is
// an unfragmented datagram or the last fragment of an ncfrag record). Its zero-loss ceiling
// is this machine's ceiling. On SIGTERM or SIGINT (or after --max-seconds) it prints one
// JSON line with the counts and exits 0.

#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// True if the datagram completes a record: it is not an ncfrag fragment, or it is the
// fragment that ends at <total>.
bool completes_record(std::string_view d) {
  const auto semi = d.find(';');
  if (semi == std::string_view::npos) return true;  // legacy or garbage: one line each
  const std::string_view header = d.substr(0, semi);
  const auto pos = header.find(",ncfrag=");
  if (pos == std::string_view::npos) return true;
  const char* p = header.data() + pos + 8;
  const char* end = header.data() + header.size();
  std::size_t off = 0, total = 0;
  auto r1 = std::from_chars(p, end, off);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '/') return true;
  std::from_chars(r1.ptr + 1, end, total);
  return off + (d.size() - semi - 1) >= total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:6666";
  int rcvbuf = 8 << 20;
  unsigned batch = 256;
  double max_seconds = 1800;
  CLI::App app{"lastgasp-recvmmsg-counter: bare recvmmsg baseline that only counts"};
  app.add_option("--listen", listen, "ip:port to bind")->capture_default_str();
  app.add_option("--rcvbuf", rcvbuf, "SO_RCVBUFFORCE bytes (as lastgasp-receiver)")->capture_default_str();
  app.add_option("--batch", batch, "datagrams per recvmmsg call")->capture_default_str()->check(CLI::Range(1u, 1024u));
  app.add_option("--max-seconds", max_seconds, "exit by itself after this long")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || inet_pton(AF_INET, listen.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "lastgasp-recvmmsg-counter: --listen wants ip:port\n");
    return 1;
  }
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(listen.substr(colon + 1))));

  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "lastgasp-recvmmsg-counter: socket setup: %s\n", std::strerror(errno));
    return 1;
  }
  // A 1 s receive timeout lets the loop notice a signal that raced the blocking call and
  // the --max-seconds bound.
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  struct sigaction sa{};
  sa.sa_handler = on_signal;  // no SA_RESTART: recvmmsg returns EINTR
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  constexpr std::size_t kBuf = 2048;  // > MAX_PRINT_CHUNK; MSG_TRUNC is counted
  constexpr std::size_t kCtl = CMSG_SPACE(sizeof(std::uint32_t));
  std::vector<char> bufs(batch * kBuf);
  std::vector<char> ctls(batch * kCtl);
  std::vector<iovec> iovs(batch);
  std::vector<mmsghdr> msgs(batch);
  for (unsigned i = 0; i < batch; ++i) iovs[i] = {bufs.data() + i * kBuf, kBuf};

  std::uint64_t datagrams = 0, records = 0, bytes = 0, truncated = 0, calls = 0;
  std::uint32_t kernel_drops = 0;  // SO_RXQ_OVFL: datagrams the kernel dropped on this socket
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (!g_stop) {
    for (unsigned i = 0; i < batch; ++i) {
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctls.data() + i * kCtl;
      msgs[i].msg_hdr.msg_controllen = kCtl;
    }
    const int n = recvmmsg(fd, msgs.data(), batch, MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        std::fprintf(stderr, "lastgasp-recvmmsg-counter: recvmmsg: %s\n", std::strerror(errno));
        break;
      }
      timespec t{};
      clock_gettime(CLOCK_MONOTONIC, &t);
      if (static_cast<double>(t.tv_sec - start.tv_sec) > max_seconds) break;
      continue;
    }
    ++calls;
    for (int i = 0; i < n; ++i) {
      const auto len = msgs[i].msg_len;
      ++datagrams;
      bytes += len;
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ++truncated;
      if (completes_record(std::string_view(static_cast<const char*>(iovs[i].iov_base), std::min<std::size_t>(len, kBuf)))) ++records;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
          std::memcpy(&kernel_drops, CMSG_DATA(c), sizeof kernel_drops);
        }
      }
    }
  }
  std::printf(
      "{\"tool\":\"lastgasp-recvmmsg-counter\",\"datagrams\":%llu,\"records\":%llu,\"bytes\":%llu,"
      "\"truncated\":%llu,\"recvmmsg_calls\":%llu,\"kernel_drops\":%u}\n",
      static_cast<unsigned long long>(datagrams), static_cast<unsigned long long>(records),
      static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(truncated),
      static_cast<unsigned long long>(calls), kernel_drops);
  std::fflush(stdout);
  close(fd);
  return 0;
}
