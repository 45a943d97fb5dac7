// libFuzzer target for the TCP protocol (docs/protocol.md): any bytes from a
// peer, cut anywhere, mixed with uploads the harness makes well-formed (so that
// the checksum passes and the real store runs, into a scratch directory), must
// give only well-formed response lines, give back every byte of upload memory,
// and leave a store in which every record is whole, named where it belongs and
// in the index.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "digest.hpp"
#include "net/tcp_protocol.hpp"
#include "sinks/pstore_store.hpp"

using namespace lastgasp;
namespace fs = std::filesystem;

namespace {

const std::string kHost = "h";

void check(bool ok) {
  if (!ok) std::abort();
}

// The daemon's on_pstore without its logs: the real store, answers as the daemon gives them.
class StoreHandler : public net::TcpHandler {
 public:
  explicit StoreHandler(sinks::PstoreStore& store) : store_(store) {}
  bool allows(const hosts::SenderAddress&) const override { return true; }
  std::string on_pstore(const hosts::SenderAddress&, wire::PstoreRecord record) override {
    check(net::is_boot_id(record.boot_id) && lastgasp::sha256_hex(record.bytes) == record.sha256);
    sinks::StoreOutcome outcome = store_.store(kHost, record);
    check(outcome.result != sinks::StoreResult::failed);  // a scratch directory never fails a write
    if (outcome.result == sinks::StoreResult::over_quota) return "ERR quota " + outcome.quota + "\n";
    std::string word = outcome.result == sinks::StoreResult::stored ? "stored" : "duplicate";
    return "OK " + word + " sha256=" + record.sha256 + "\n";
  }
  void on_verify(const hosts::SenderAddress&, const std::string&, std::chrono::milliseconds,
                 std::function<void(std::string)>) override {
    std::abort();  // the session hands VERIFY to its owner, never to the handler
  }

 private:
  sinks::PstoreStore& store_;
};

// Responses are whole lines of the protocol, with nothing of the peer's that could break one.
void check_output(const std::string& output) {
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    check(line.starts_with("OK ") || line.starts_with("ERR "));
    for (char c : line) check(c >= 0x20 && c < 0x7f);
  }
  check(output.empty() || output.back() == '\n');
}

std::string pick_boot_id(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0: return "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4";
    case 1: return "3D1219C7C4C5404AAA1F6D2A48ADFDA5";
    case 2: return "index";
    default: return in.ConsumeRandomLengthString(40);
  }
}

// A PSTORE request with a body and the right checksum, the rest of it fuzzed.
std::string well_formed_upload(FuzzedDataProvider& in) {
  std::string name = in.ConsumeBool() ? "dmesg-ramoops-" + std::to_string(in.ConsumeIntegralInRange(0, 3))
                                      : in.ConsumeRandomLengthString(20);
  std::string boot_id = pick_boot_id(in);
  std::string body = in.ConsumeRandomLengthString(20000);
  return "LASTGASP/1 PSTORE host=" + in.ConsumeRandomLengthString(10) + " boot_id=" + boot_id + " name=" + name +
         " size=" + std::to_string(body.size()) + " sha256=" + lastgasp::sha256_hex(body) + "\n" + body;
}

// Feeds BYTES in pieces of any size, for as long as the session reads.
void feed_in_pieces(FuzzedDataProvider& in, net::ProtocolSession& session, const std::string& bytes) {
  for (std::size_t at = 0; at < bytes.size() && session.wants_input();) {
    std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 4096);
    session.feed(std::string_view(bytes).substr(at, n));
    at += n;
  }
}

void answer_verify(FuzzedDataProvider& in, net::ProtocolSession& session, const net::VerifyQuery& query) {
  check(query.token.size() >= 8 && query.token.size() <= 64 && query.wait.count() <= 30'000);
  session.answer(in.ConsumeBool() ? "OK found host=h recv_time=2026-11-25T21:02:58.366482Z\n" : "ERR not-found\n");
}

// Every file under the host's pstore is the index, or a record at BOOT/NAME whose checksum the index holds.
void check_store(const fs::path& host_dir) {
  fs::path pstore = host_dir / "pstore";
  if (!fs::exists(pstore)) return;
  std::ifstream index_file(pstore / "index");
  std::string index((std::istreambuf_iterator<char>(index_file)), {});
  for (const auto& boot : fs::directory_iterator(pstore)) {
    if (boot.path().filename() == "index") continue;
    check(boot.is_directory() && net::is_boot_id(boot.path().filename().string()));
    for (const auto& record : fs::directory_iterator(boot.path())) {
      std::string name = record.path().filename();
      check(name[0] != '.');  // no temporary left
      std::ifstream file(record.path());
      std::string bytes((std::istreambuf_iterator<char>(file)), {});
      std::string line = lastgasp::sha256_hex(bytes) + " pstore/" + boot.path().filename().string() + "/" + name + "\n";
      check(index.find(line) != std::string::npos);
    }
  }
}

const fs::path& scratch() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "fuzz_tcp.XXXXXX").string();
    check(::mkdtemp(pattern.data()) != nullptr);
    return fs::path(pattern);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  net::TcpLimits limits;
  limits.max_upload = 16u << 10;
  limits.max_requests = 16;
  net::UploadMemory memory;
  memory.cap = in.ConsumeIntegralInRange<std::uint64_t>(0, 64u << 10);
  {
    sinks::LogDirectory dir(scratch());
    sinks::PstoreStore store(dir, {48u << 10, 6, 96u << 10});
    StoreHandler handler(store);
    net::ProtocolSession session(handler, *hosts::SenderAddress::from_text("192.0.2.1"), limits, memory);
    while (in.remaining_bytes() > 0 && !session.done()) {
      if (auto query = session.take_verify()) answer_verify(in, session, *query);
      else feed_in_pieces(in, session, in.ConsumeBool() ? well_formed_upload(in) : in.ConsumeRandomLengthString(600));
      check_output(session.take_output());
      check(memory.used <= memory.cap);
    }
    check_output(session.take_output());
  }
  check(memory.used == 0);
  for (const auto& entry : fs::directory_iterator(scratch())) check(entry.path().filename() == kHost);
  check_store(scratch() / kHost);
  fs::remove_all(scratch() / kHost);  // each input starts from an empty store
  return 0;
}
