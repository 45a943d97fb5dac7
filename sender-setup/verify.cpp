// `lastgasp-setup verify [--to HOST[:PORT]]`: writes a unique canary line to
// /dev/kmsg, which netconsole sends like any kernel record, then asks the
// receiver over TCP whether it arrived (docs/protocol.md, VERIFY). Exit 0 when
// it did, 1 when it did not within the wait, 2 on errors.
#include <cstring>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "receiver_client.hpp"
#include "subcommands.hpp"
#include "sysroot/kernel_settings.hpp"

namespace lastgasp::setup {

namespace {

std::string make_token() {
  std::string bytes;
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  char buf[8] = {};
  if (!urandom.read(buf, sizeof buf)) {
    std::random_device rd;
    for (char& c : buf) c = static_cast<char>(rd());
  }
  static const char* kHex = "0123456789abcdef";
  std::string token = "lastgasp-canary-";
  for (unsigned char c : std::string_view(buf, sizeof buf)) {
    token += kHex[c >> 4];
    token += kHex[c & 15];
  }
  return token;
}

void write_canary(Context& ctx, const std::string& token, const std::string& receiver) {
  if (int error = write_kmsg(ctx.root, kKmsgNotice, "lastgasp-setup verify: canary " + token + " for " + receiver))
    throw Error("cannot write the canary to /dev/kmsg: " + std::string(std::strerror(error)) + " (run as root)");
}

int run_verify(Context& ctx, const std::string& to, double wait_s) {
  ReceiverAddress receiver = receiver_address(ctx, to);
  std::string token = make_token();
  auto wait = std::chrono::milliseconds(static_cast<long>(wait_s * 1000));
  nlohmann::json report = {{"receiver", receiver.text}, {"token", token}, {"wait_ms", wait.count()}};
  if (ctx.root.dry_run()) {
    ctx.say("would write the canary " + token + " to /dev/kmsg and ask " + receiver.text + " whether it arrived");
    return kExitOk;
  }
  // Connect first: a receiver that cannot be asked says nothing about netconsole.
  ReceiverClient client(receiver.address, receiver.port, std::chrono::seconds(10));
  write_canary(ctx, token, receiver.text);
  Response r = client.request("LASTGASP/1 VERIFY token=" + token + " wait_ms=" + std::to_string(wait.count()), "",
                              wait + std::chrono::seconds(10));
  bool found = r.ok && r.word == "found";
  report["found"] = found;
  report["response"] = r.line;
  if (found) {
    report["host"] = r.get("host");
    report["recv_time"] = r.get("recv_time");
    ctx.say("OK: the canary " + token + " reached the receiver at " + receiver.text + " over netconsole (filed as host " +
            r.get("host") + " at " + r.get("recv_time") + "): a panic's last words would get there too.");
  } else if (r.word == "not-found") {
    ctx.say("FAILED: the canary " + token + " written to /dev/kmsg did not reach the receiver at " + receiver.text +
            " within " + std::to_string(wait.count()) + " ms. Run 'lastgasp-setup check' and see what it marks; "
            "also check that UDP to the receiver's port is let through, and that the receiver sees this host's address.");
  } else {
    ctx.say("FAILED: the receiver at " + receiver.text + " answered '" + r.line + "'" +
            (r.word == "refused" ? ": this host's address is outside its allow list" : ""));
  }
  if (ctx.json) ctx.print_json(report);
  return found ? kExitOk : kExitNotReady;
}

}  // namespace

SubcommandRun define_verify(CLI::App& command) {
  struct Options {
    std::string to;
    double wait = 5;
  };
  auto o = std::make_shared<Options>();
  command.add_option("--to", o->to,
                     "the receiver, HOST[:PORT]; by default the one in /etc/lastgasp/sender.toml");
  command.add_option("--wait", o->wait, "seconds the receiver waits for the canary (at most 30)")
      ->check(CLI::Range(0.1, 30.0))->capture_default_str();
  return [o](Context& ctx) { return run_verify(ctx, o->to, o->wait); };
}

}  // namespace lastgasp::setup
