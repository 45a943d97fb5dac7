// `lastgasp-setup verify [--to HOST[:PORT]]`: writes a unique canary line to
// /dev/kmsg, which netconsole sends like any kernel record, then asks the
// receiver over TCP whether it arrived (docs/protocol.md, VERIFY). Exit 0 when
// it did, 1 when it did not within the wait, 2 on errors.
#include <algorithm>
#include <cstring>
#include <memory>
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

void write_canary(Context& ctx, const std::string& token, const std::string& receivers) {
  if (int error = write_kmsg(ctx.root, kKmsgNotice, "lastgasp-setup verify: canary " + token + " for " + receivers))
    throw Error("cannot write the canary to /dev/kmsg: " + std::string(std::strerror(error)) + " (run as root)");
}

// One receiver being asked: its connection, made before the canary is written,
// or why it could not be made.
struct Asked {
  ReceiverAddress receiver;
  std::unique_ptr<ReceiverClient> client;
  std::string error;
};

// Asks ASKED whether TOKEN arrived; says the answer and returns it for the report.
nlohmann::json ask(Context& ctx, Asked& asked, const std::string& token, std::chrono::milliseconds wait) {
  const std::string& where = asked.receiver.text;
  nlohmann::json result = {{"receiver", where}, {"found", false}};
  if (!asked.client) {
    ctx.err << "lastgasp-setup verify: cannot ask the receiver at " << where << ": " << asked.error << '\n';
    result["error"] = asked.error;
    return result;
  }
  Response r;
  try {
    r = asked.client->request("LASTGASP/1 VERIFY token=" + token + " wait_ms=" + std::to_string(wait.count()), "",
                              wait + std::chrono::seconds(10));
  } catch (const Error& e) {
    ctx.err << "lastgasp-setup verify: " << e.what() << '\n';
    result["error"] = e.what();
    return result;
  }
  bool found = r.ok && r.word == "found";
  result["found"] = found;
  result["response"] = r.line;
  if (found) {
    result["host"] = r.get("host");
    result["recv_time"] = r.get("recv_time");
    ctx.say("OK: the canary " + token + " reached the receiver at " + where + " over netconsole (filed as host " +
            r.get("host") + " at " + r.get("recv_time") + "): a panic's last words would get there too.");
  } else if (r.word == "not-found") {
    ctx.say("FAILED: the canary " + token + " written to /dev/kmsg did not reach the receiver at " + where +
            " within " + std::to_string(wait.count()) + " ms. Run 'lastgasp-setup check' and see what it marks; "
            "also check that UDP to the receiver's port is let through, and that the receiver sees this host's address.");
  } else {
    ctx.say("FAILED: the receiver at " + where + " answered '" + r.line + "'" +
            (r.word == "refused" ? ": this host's address is outside its allow list" : ""));
  }
  return result;
}

// One canary for every receiver: the kernel sends each record to every target.
int run_verify(Context& ctx, const std::vector<std::string>& to, double wait_s) {
  std::vector<ReceiverAddress> receivers = receiver_addresses(ctx, to);
  std::string token = make_token();
  auto wait = std::chrono::milliseconds(static_cast<long>(wait_s * 1000));
  std::string names;
  for (const ReceiverAddress& receiver : receivers) names += (names.empty() ? "" : ", ") + receiver.text;
  if (ctx.root.dry_run()) {
    ctx.say("would write the canary " + token + " to /dev/kmsg and ask " + names + " whether it arrived");
    return kExitOk;
  }
  // Connect first: a receiver that cannot be asked says nothing about netconsole.
  std::vector<Asked> asked;
  for (const ReceiverAddress& receiver : receivers) {
    Asked a{receiver, nullptr, ""};
    try {
      a.client = std::make_unique<ReceiverClient>(receiver.address, receiver.port, std::chrono::seconds(10));
    } catch (const Error& e) {
      a.error = e.what();
    }
    asked.push_back(std::move(a));
  }
  if (std::none_of(asked.begin(), asked.end(), [](const Asked& a) { return a.client != nullptr; }))
    throw Error(asked.size() == 1 ? asked.front().error : "no receiver can be asked: " + names);
  write_canary(ctx, token, names);
  nlohmann::json results = nlohmann::json::array();
  std::size_t found = 0;
  bool unasked = false;
  for (Asked& a : asked) {
    results.push_back(ask(ctx, a, token, wait));
    found += results.back()["found"].get<bool>() ? 1 : 0;
    unasked = unasked || results.back().contains("error");
  }
  if (asked.size() > 1)
    ctx.say(std::to_string(found) + " of " + std::to_string(asked.size()) + " receivers have the canary.");
  if (ctx.json)
    ctx.print_json({{"token", token}, {"wait_ms", wait.count()}, {"found", found == asked.size()},
                    {"receivers", results}});
  if (unasked) return kExitError;
  return found == asked.size() ? kExitOk : kExitNotReady;
}

}  // namespace

SubcommandRun define_verify(CLI::App& command) {
  struct Options {
    std::vector<std::string> to;
    double wait = 5;
  };
  auto o = std::make_shared<Options>();
  command.add_option("--to", o->to,
                     "a receiver, HOST[:PORT], once per receiver; by default every one in /etc/lastgasp/sender.toml")
      ->allow_extra_args(false);
  command.add_option("--wait", o->wait, "seconds each receiver waits for the canary (at most 30)")
      ->check(CLI::Range(0.1, 30.0))->capture_default_str();
  return [o](Context& ctx) { return run_verify(ctx, o->to, o->wait); };
}

}  // namespace lastgasp::setup
