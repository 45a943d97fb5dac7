// The client side of docs/protocol.md: one TCP connection to the receiver,
// one request line (and body) at a time, one response line back. Plain
// sockets with a deadline on every step: a receiver that hangs never hangs us.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "context.hpp"

namespace lastgasp::setup {

// Percent-encodes every byte outside [A-Za-z0-9._:/+-].
std::string percent_encode(std::string_view text);

// The words of a response line: its verb ("OK"/"ERR"), its first word, and key=value pairs.
struct Response {
  std::string line;
  bool ok = false;
  std::string word;  // "stored", "duplicate", "found", "refused", ...
  std::string get(const std::string& key) const;  // "" when absent; percent-decoded
};

class ReceiverClient {
 public:
  // Connects to ADDRESS (numeric) and PORT within TIMEOUT. Throws Error.
  ReceiverClient(const std::string& address, std::uint16_t port, std::chrono::milliseconds timeout);
  ~ReceiverClient();
  ReceiverClient(const ReceiverClient&) = delete;
  ReceiverClient& operator=(const ReceiverClient&) = delete;

  // Sends HEADER (a full "LASTGASP/1 VERB ..." line, without "\n") and BODY,
  // then reads one response line within TIMEOUT. Throws Error.
  Response request(const std::string& header, std::string_view body, std::chrono::milliseconds timeout);

  const std::string& where() const { return where_; }

 private:
  void send_all(std::string_view bytes, std::chrono::steady_clock::time_point deadline);
  Response read_response(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds timeout);
  int fd_ = -1;
  std::string where_;
  std::string pending_;  // bytes read after a response line
};

// A receiver to ask over TCP: numeric address and port.
struct ReceiverAddress {
  std::string address;
  std::uint16_t port = 6666;
  std::string text;  // as the user knows it
};
// The receivers given with --to (TO, in order), or when TO is empty every
// receiver saved in /etc/lastgasp/sender.toml. Throws Error.
std::vector<ReceiverAddress> receiver_addresses(Context& ctx, const std::vector<std::string>& to);

}  // namespace lastgasp::setup
