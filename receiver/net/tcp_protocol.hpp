// The TCP protocol of docs/protocol.md as a pure state machine: bytes from the
// peer in, response lines and handler calls out. It does no I/O and reads no
// clock, so the fuzzer drives it directly; TcpEndpoint's sessions only move
// bytes between it and a socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/types.h>

#include "hosts/sender_address.hpp"
#include "wire/pstore_record.hpp"

namespace lastgasp::net {

// One request header, parsed: "LASTGASP/1 VERB key=value ...", values percent-decoded.
struct Request {
  std::string verb;
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* get(std::string_view key) const;
};
std::optional<Request> parse_request(std::string_view line);
// A boot id as the kernel writes it (a UUID), or its 32 hex digits without dashes.
bool is_boot_id(std::string_view text);

class TcpHandler {
 public:
  virtual ~TcpHandler() = default;
  virtual bool allows(const hosts::SenderAddress& peer) const = 0;
  // Files an upload (checksum already checked) and returns the response line.
  virtual std::string on_pstore(const hosts::SenderAddress& peer, wire::PstoreRecord record) = 0;
  // Calls REPLY with the response line when TOKEN has arrived from PEER, or when WAIT has passed.
  virtual void on_verify(const hosts::SenderAddress& peer, const std::string& token, std::chrono::milliseconds wait,
                         std::function<void(std::string)> reply) = 0;
};

struct TcpLimits {
  std::uint64_t max_upload = 4u << 20;
  std::uint64_t upload_memory = 32u << 20;  // upload bytes all sessions together may hold in memory
  unsigned max_sessions = 64;
  unsigned max_sessions_per_address = 8;    // so that one address cannot take every slot
  unsigned max_requests = 256;
  std::chrono::seconds idle{30};
};

// Upload bytes held in memory by all sessions, charged as buffers grow with
// the bytes that actually arrive, never by what a header declares.
struct UploadMemory {
  std::uint64_t cap = 0;
  std::uint64_t used = 0;
  std::uint64_t refusals = 0;  // uploads answered ERR busy for want of room

  bool take(std::uint64_t bytes);
  void give(std::uint64_t bytes) { used -= bytes; }
};

// A VERIFY request, for the owner to put to TcpHandler::on_verify.
struct VerifyQuery {
  std::string token;
  std::chrono::milliseconds wait;
};

class ProtocolSession {
 public:
  ProtocolSession(TcpHandler& handler, const hosts::SenderAddress& peer, const TcpLimits& limits,
                  UploadMemory& memory);
  ~ProtocolSession();
  ProtocolSession(const ProtocolSession&) = delete;
  ProtocolSession& operator=(const ProtocolSession&) = delete;

  // Takes BYTES from the peer and handles every request they complete. Only while wants_input().
  void feed(std::string_view bytes);
  // The answer to the query from take_verify(); then handles the bytes that were fed behind it.
  void answer(const std::string& line);

  std::string take_output();                 // response lines to send, in order
  std::optional<VerifyQuery> take_verify();  // a query whose answer goes to answer()
  bool wants_input() const { return state_ == State::header || state_ == State::body; }
  bool done() const { return state_ == State::done; }  // an ERR was sent: write the output, then close
  // Changes whenever a new header or body starts: the owner's idle deadline runs per stage.
  unsigned stage() const { return stage_; }

 private:
  enum class State { header, body, awaiting_answer, done };

  std::string_view take_header(std::string_view bytes);
  std::string_view take_body(std::string_view bytes);
  void on_header(std::string_view line);
  void start_upload(const Request& request);
  void start_verify(const Request& request);
  bool grow_body(std::uint64_t need);
  void finish_upload();
  void drop_upload();
  void respond(std::string line);
  void expect_header();

  TcpHandler& handler_;
  hosts::SenderAddress peer_;
  const TcpLimits& limits_;
  UploadMemory& memory_;
  State state_ = State::header;
  unsigned stage_ = 0;
  unsigned requests_ = 0;
  std::string header_;   // the header line so far
  std::string pending_;  // bytes fed behind a VERIFY, handled once it is answered
  std::string output_;
  std::optional<VerifyQuery> verify_;
  wire::PstoreRecord upload_;
  std::uint64_t upload_size_ = 0;     // what the header declared
  std::uint64_t upload_charged_ = 0;  // what upload_.bytes holds in memory
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> digest_;
};

}  // namespace lastgasp::net
