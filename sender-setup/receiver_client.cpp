#include "receiver_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "endpoint.hpp"
#include "error.hpp"
#include "netconsole.hpp"
#include "sender_config.hpp"
#include "persistence.hpp"
#include "state.hpp"

namespace lastgasp::setup {

namespace {

constexpr std::size_t kMaxResponse = 4096;

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

std::string percent_encode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || std::strchr("._:/+-", c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Response::get(const std::string& key) const {
  std::size_t at = 0;
  while (at < line.size()) {
    std::size_t end = line.find(' ', at);
    if (end == std::string::npos) end = line.size();
    std::string_view w(line.data() + at, end - at);
    if (w.starts_with(key + "=")) return percent_decode(w.substr(key.size() + 1));
    at = end + 1;
  }
  return "";
}

ReceiverClient::ReceiverClient(const std::string& address, std::uint16_t port, std::chrono::milliseconds timeout)
    : where_(config::format_host_port(address, port)) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    throw Error("bad receiver address '" + address + "'");
  }
  fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw Error(std::string("socket: ") + std::strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      int e = errno;
      ::close(fd_);
      throw Error("cannot connect to the receiver at " + where_ + " over TCP: " + std::strerror(e));
    }
    pollfd p{fd_, POLLOUT, 0};
    int n = 0;
    while ((n = ::poll(&p, 1, remaining_ms(deadline))) < 0 && errno == EINTR) {}
    int err = 0;
    socklen_t err_len = sizeof err;
    if (n == 0) err = ETIMEDOUT;
    else ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) {
      ::close(fd_);
      throw Error("cannot connect to the receiver at " + where_ + " over TCP: " + std::strerror(err) +
                  " (is lastgasp-receiver running there, and is TCP on that port let through?)");
    }
  }
}

ReceiverClient::~ReceiverClient() {
  if (fd_ >= 0) ::close(fd_);
}

void ReceiverClient::send_all(std::string_view bytes, std::chrono::steady_clock::time_point deadline) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      int r = ::poll(&p, 1, remaining_ms(deadline));
      if (r == 0) throw Error("the receiver at " + where_ + " stopped taking data (timeout)");
      continue;
    }
    throw Error("sending to the receiver at " + where_ + ": " + std::strerror(errno));
  }
}

Response ReceiverClient::request(const std::string& header, std::string_view body, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // The receiver may answer before it has read everything (ERR refused at
  // accept, ERR too-large after the header) and close: its answer, not our
  // broken pipe, is what the user needs to hear.
  try {
    send_all(header + "\n", deadline);
    send_all(body, deadline);
  } catch (const Error& send_error) {
    ::shutdown(fd_, SHUT_WR);
    try {
      return read_response(std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2)), timeout);
    } catch (const Error&) {
      throw send_error;
    }
  }
  return read_response(deadline, timeout);
}

Response ReceiverClient::read_response(std::chrono::steady_clock::time_point deadline,
                                       std::chrono::milliseconds timeout) {
  std::string line;
  for (;;) {
    if (auto nl = pending_.find('\n'); nl != std::string::npos) {
      line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      break;
    }
    if (pending_.size() > kMaxResponse) throw Error("the receiver at " + where_ + " sent an over-long response");
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) throw Error("no answer from the receiver at " + where_ + " within " +
                            std::to_string(timeout.count()) + " ms");
    char buf[1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0)
      throw Error("the receiver at " + where_ + " closed the connection without an answer" +
                  (n < 0 ? std::string(": ") + std::strerror(errno) : std::string()) +
                  " (an older receiver without TCP uploads?)");
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  Response response;
  response.line = line;
  std::size_t sp = line.find(' ');
  std::string verb = line.substr(0, sp);
  if (verb != "OK" && verb != "ERR")
    throw Error("the receiver at " + where_ + " answered something else than the protocol: '" + line.substr(0, 80) + "'");
  response.ok = verb == "OK";
  if (sp != std::string::npos) {
    std::size_t end = line.find(' ', sp + 1);
    response.word = line.substr(sp + 1, end == std::string::npos ? std::string::npos : end - sp - 1);
  }
  return response;
}

namespace {

ReceiverAddress receiver_address(const std::string& text) {
  ResolvedReceiver resolved = resolve_receiver(text);
  if (!resolved.zone.empty())
    throw Error("bad receiver '" + text + "': a zone (%" + resolved.zone + ") only names netconsole's device; "
                "give the receiver's routable address");
  std::string error;
  auto endpoint = config::parse_host_port(resolved.to, 6666, error);
  if (!endpoint) throw Error("bad receiver '" + text + "': " + error);
  return {endpoint->host, endpoint->port, text};
}

}  // namespace

std::vector<ReceiverAddress> receiver_addresses(Context& ctx, const std::vector<std::string>& to) {
  std::vector<std::string> texts = to;
  if (texts.empty()) {
    for (const auto& target : load_saved_targets(ctx.root).targets) texts.push_back(target.to);
    if (texts.empty())
      throw Error(std::string("no --to, and ") + kSenderConfigFile + " names no receiver: give --to HOST[:PORT]");
  }
  std::vector<ReceiverAddress> receivers;
  for (const std::string& text : texts) {
    ReceiverAddress receiver = receiver_address(text);
    bool repeated = std::any_of(receivers.begin(), receivers.end(), [&](const ReceiverAddress& other) {
      return other.address == receiver.address && other.port == receiver.port;
    });
    if (!repeated) receivers.push_back(std::move(receiver));
  }
  return receivers;
}

}  // namespace lastgasp::setup
