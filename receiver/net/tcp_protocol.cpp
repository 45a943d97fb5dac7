#include "tcp_protocol.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <new>

#include "digest.hpp"
#include "numbers.hpp"

namespace lastgasp::net {

namespace {

constexpr std::size_t kMaxHeader = 4096;
constexpr auto kMaxVerifyWait = std::chrono::milliseconds(30'000);
constexpr auto kDefaultVerifyWait = std::chrono::milliseconds(5000);
// An upload's buffer starts this small and doubles: a peer that declares 4 MiB
// and sends nothing holds nothing.
constexpr std::uint64_t kFirstBodyChunk = 64u << 10;

bool all_of_charset(std::string_view s, std::string_view extra) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_hex(std::string_view s) { return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }); }

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto value = parse_number<unsigned>(s.substr(i + 1, 2), 16);
    if (!value) return std::nullopt;
    out += static_cast<char>(*value);
    i += 2;
  }
  return out;
}

std::optional<std::uint64_t> number(const std::string* text) {
  if (!text || text->empty()) return std::nullopt;
  return parse_number<std::uint64_t>(*text);
}

bool is_record_name(const std::string& name) {
  return !name.empty() && name.size() <= 128 && name[0] != '.' && all_of_charset(name, "._-");
}

}  // namespace

bool UploadMemory::take(std::uint64_t bytes) {
  if (bytes > cap - std::min(cap, used)) return false;
  used += bytes;
  return true;
}

ProtocolSession::ProtocolSession(TcpHandler& handler, const hosts::SenderAddress& peer, const TcpLimits& limits,
                                 UploadMemory& memory)
    : handler_(handler), peer_(peer), limits_(limits), memory_(memory), digest_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  if (!digest_) throw std::bad_alloc();
}

ProtocolSession::~ProtocolSession() { drop_upload(); }

void ProtocolSession::feed(std::string_view bytes) {
  while (!bytes.empty() && wants_input()) bytes = state_ == State::header ? take_header(bytes) : take_body(bytes);
  if (state_ == State::awaiting_answer) pending_.append(bytes);
}

void ProtocolSession::answer(const std::string& line) {
  if (state_ != State::awaiting_answer) return;
  respond(line);
  if (done()) return;
  expect_header();
  std::string behind = std::exchange(pending_, {});
  feed(behind);
}

std::string ProtocolSession::take_output() { return std::exchange(output_, {}); }

std::optional<VerifyQuery> ProtocolSession::take_verify() { return std::exchange(verify_, std::nullopt); }

std::string_view ProtocolSession::take_header(std::string_view bytes) {
  auto newline = bytes.find('\n');
  std::string_view part = bytes.substr(0, newline);
  if (header_.size() + part.size() > kMaxHeader) {
    respond("ERR bad-request\n");
    return {};
  }
  header_.append(part);
  if (newline == std::string_view::npos) return {};
  std::string line = std::exchange(header_, {});
  on_header(line);
  return bytes.substr(newline + 1);
}

void ProtocolSession::on_header(std::string_view line) {
  if (++requests_ > limits_.max_requests) return respond("ERR bad-request too-many-requests\n");
  auto request = parse_request(line);
  if (!request) return respond("ERR bad-request\n");
  if (request->verb == "PSTORE") return start_upload(*request);
  if (request->verb == "VERIFY") return start_verify(*request);
  respond("ERR bad-request unknown-verb\n");
}

void ProtocolSession::start_upload(const Request& r) {
  const std::string *host = r.get("host"), *boot = r.get("boot_id"), *name = r.get("name"), *sha = r.get("sha256");
  auto size = number(r.get("size"));
  // boot_id and name become a directory and a file name: nothing but the plausible gets through.
  if (!host || !boot || !name || !sha || !size || !is_record_name(*name) || !is_boot_id(*boot) || sha->size() != 64 ||
      !is_hex(*sha))
    return respond("ERR bad-request\n");
  if (*size > limits_.max_upload) return respond("ERR too-large\n");
  upload_ = {*host, lowercase(*boot), *name, lowercase(*sha), {}};
  upload_size_ = *size;
  EVP_DigestInit_ex(digest_.get(), EVP_sha256(), nullptr);
  state_ = State::body;
  ++stage_;
  if (upload_size_ == 0) finish_upload();
}

std::string_view ProtocolSession::take_body(std::string_view bytes) {
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), upload_size_ - upload_.bytes.size()));
  if (!grow_body(upload_.bytes.size() + n)) {
    ++memory_.refusals;
    respond("ERR busy\n");
    return {};
  }
  upload_.bytes.append(bytes.data(), n);
  EVP_DigestUpdate(digest_.get(), bytes.data(), n);
  if (upload_.bytes.size() == upload_size_) finish_upload();
  return bytes.substr(n);
}

// Makes room for NEED body bytes, doubling, charged to the shared budget before it is allocated.
bool ProtocolSession::grow_body(std::uint64_t need) {
  if (need <= upload_charged_) return true;
  std::uint64_t room = std::min(upload_size_, std::max({need, 2 * upload_charged_, kFirstBodyChunk}));
  if (!memory_.take(room)) return false;
  // A fresh string, so that its capacity is exactly ROOM (growing in place may round up).
  std::string bigger;
  bigger.reserve(static_cast<std::size_t>(room));
  bigger.append(upload_.bytes);
  upload_.bytes.swap(bigger);
  memory_.give(upload_charged_);
  upload_charged_ = room;
  return true;
}

void ProtocolSession::finish_upload() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  EVP_DigestFinal_ex(digest_.get(), digest, &length);
  if (to_hex(digest, length) != upload_.sha256) return respond("ERR checksum\n");
  std::string reply = handler_.on_pstore(peer_, std::move(upload_));
  respond(std::move(reply));
  if (!done()) expect_header();
}

void ProtocolSession::drop_upload() {
  upload_ = {};
  memory_.give(upload_charged_);
  upload_charged_ = 0;
}

void ProtocolSession::start_verify(const Request& r) {
  const std::string* token = r.get("token");
  if (!token || token->size() < 8 || token->size() > 64 || !all_of_charset(*token, "._-"))
    return respond("ERR bad-request\n");
  auto wait = number(r.get("wait_ms")).value_or(kDefaultVerifyWait.count());
  verify_ = VerifyQuery{*token, std::chrono::milliseconds(std::min<std::uint64_t>(wait, kMaxVerifyWait.count()))};
  state_ = State::awaiting_answer;
}

// Queues LINE; an OK keeps the connection for the next request, anything else ends it.
void ProtocolSession::respond(std::string line) {
  drop_upload();
  output_ += line;
  if (!line.starts_with("OK")) {
    state_ = State::done;
    pending_.clear();
  }
}

void ProtocolSession::expect_header() {
  state_ = State::header;
  ++stage_;
}

const std::string* Request::get(std::string_view key) const {
  for (const auto& [k, v] : params)
    if (k == key) return &v;
  return nullptr;
}

std::optional<Request> parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  constexpr std::string_view kMagic = "LASTGASP/1 ";
  if (!line.starts_with(kMagic)) return std::nullopt;
  line.remove_prefix(kMagic.size());
  Request r;
  auto space = line.find(' ');
  r.verb = std::string(line.substr(0, space));
  line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  while (!line.empty()) {
    space = line.find(' ');
    std::string_view word = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    if (word.empty()) continue;
    auto eq = word.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    auto value = percent_decode(word.substr(eq + 1));
    if (!value) return std::nullopt;
    r.params.emplace_back(std::string(word.substr(0, eq)), std::move(*value));
  }
  if (r.verb.empty()) return std::nullopt;
  return r;
}

bool is_boot_id(std::string_view text) {
  if (text.size() == 32) return is_hex(text);
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

}  // namespace lastgasp::net
