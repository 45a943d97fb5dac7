// `lastgasp-setup collect [--to HOST[:PORT]]`: every pstore record of the
// previous boot goes to the receiver over TCP, one PSTORE request each
// (docs/protocol.md). Records come from /sys/fs/pstore and from
// /var/lib/systemd/pstore, where systemd-pstore may have moved them before the
// network came up. A record is archived under /var/lib/lastgasp/pstore and
// removed from where it was (which frees the pstore backend) only once the
// receiver has said "OK stored" or "OK duplicate": the receiver keys records by
// host and sha256, so running collect again never files anything twice.
#include "collect.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "collect_unit_template.hpp"
#include "digest.hpp"
#include "error.hpp"
#include "persistence.hpp"
#include "receiver_client.hpp"
#include "subcommands.hpp"

namespace lastgasp::setup {

namespace {

namespace fs = std::filesystem;

constexpr const char* kPstoreFs = "/sys/fs/pstore";
constexpr const char* kSystemdPstore = "/var/lib/systemd/pstore";
constexpr std::size_t kMaxRecord = 4u << 20;  // the protocol's bound on size
constexpr std::size_t kMaxName = 128;
constexpr std::size_t kMaxRequests = 256;     // per connection

struct Record {
  std::string path;   // system path
  std::string name;   // pstore name, as the protocol takes it
  std::string bytes;
  std::string sha256;
  std::vector<std::string> copies;  // the same bytes elsewhere: archived with it
};

// The protocol's name: [A-Za-z0-9._-], at most 128 bytes.
std::string protocol_name(const std::string& file_name) {
  std::string name = file_name.substr(0, kMaxName);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  }
  return name.empty() ? "record" : name;
}

// Regular files under DIR (recursively when RECURSIVE), as system paths.
void find_files(const Sysroot& root, const std::string& dir, bool recursive, std::vector<std::string>& out) {
  for (const std::string& name : root.list_dir(dir)) {
    std::string path = dir + "/" + name;
    std::error_code ec;
    auto status = fs::symlink_status(root.host_path(path), ec);
    if (ec) continue;
    if (fs::is_regular_file(status)) out.push_back(path);
    else if (recursive && fs::is_directory(status)) find_files(root, path, true, out);
  }
}

std::vector<Record> find_records(Context& ctx) {
  std::vector<std::string> paths;
  find_files(ctx.root, kPstoreFs, false, paths);
  find_files(ctx.root, kSystemdPstore, true, paths);
  std::vector<Record> records;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    Record r;
    r.path = paths[i];
    r.name = protocol_name(fs::path(r.path).filename().string());
    auto bytes = ctx.root.read(r.path);
    if (!bytes) {
      ctx.warn("cannot read " + r.path + ": left where it is");
      continue;
    }
    if (bytes->size() > kMaxRecord) {
      ctx.warn(r.path + " is " + std::to_string(bytes->size()) + " bytes, over the protocol's 4 MiB: left where it is");
      continue;
    }
    r.bytes = std::move(*bytes);
    r.sha256 = sha256_hex(r.bytes);
    records.push_back(std::move(r));
  }
  // The same record in both places (systemd-pstore copied, did not unlink): send it once.
  std::vector<Record> unique;
  for (Record& r : records) {
    auto seen = std::find_if(unique.begin(), unique.end(), [&](const Record& u) { return u.sha256 == r.sha256; });
    if (seen == unique.end()) unique.push_back(std::move(r));
    else seen->copies.push_back(r.path);
  }
  return unique;
}

// Keeps the record under /var/lib/lastgasp/pstore/<boot id>/ and removes the original.
std::string archive(Context& ctx, const Record& r, const std::string& boot_id) {
  std::string dir = std::string(kCollectArchiveDir) + "/" + boot_id;
  std::string target = dir + "/" + r.name;
  if (auto existing = ctx.root.read(target); existing && *existing != r.bytes) target += "." + r.sha256.substr(0, 12);
  ctx.root.write_file(target, r.bytes);
  ctx.root.remove_file(r.path);
  for (const std::string& copy : r.copies) ctx.root.remove_file(copy);
  return target;
}

int run_collect(Context& ctx, const std::string& to, int timeout_s) {
  ReceiverAddress receiver = receiver_address(ctx, to);
  std::string host = ctx.root.read_trimmed("/proc/sys/kernel/hostname").value_or("");
  std::string boot_id = ctx.root.read_trimmed("/proc/sys/kernel/random/boot_id").value_or("");
  if (boot_id.empty()) throw Error("cannot read /proc/sys/kernel/random/boot_id");
  std::vector<Record> records = find_records(ctx);
  nlohmann::json report = {{"receiver", receiver.text}, {"records", nlohmann::json::array()}};
  if (records.empty()) {
    ctx.say("No pstore records in " + std::string(kPstoreFs) + " or " + kSystemdPstore + ": nothing to collect.");
    if (ctx.json) ctx.print_json(report);
    return kExitOk;
  }
  if (ctx.root.dry_run()) {
    for (const Record& r : records)
      ctx.say("would send " + r.path + " (" + std::to_string(r.bytes.size()) + " bytes, sha256 " + r.sha256 +
              ") to " + receiver.text + ", then archive it");
    if (ctx.json) ctx.print_json(report);
    return kExitOk;
  }
  auto timeout = std::chrono::seconds(timeout_s);
  std::unique_ptr<ReceiverClient> client;
  std::size_t sent_on_connection = 0;
  std::size_t stored = 0, duplicates = 0;
  for (const Record& r : records) {
    if (!client || sent_on_connection == kMaxRequests) {
      client = std::make_unique<ReceiverClient>(receiver.address, receiver.port, timeout);
      sent_on_connection = 0;
    }
    std::string header = "LASTGASP/1 PSTORE host=" + percent_encode(host) + " boot_id=" + percent_encode(boot_id) +
                         " name=" + r.name + " size=" + std::to_string(r.bytes.size()) + " sha256=" + r.sha256;
    Response response = client->request(header, r.bytes, timeout);
    ++sent_on_connection;
    if (!response.ok || (response.word != "stored" && response.word != "duplicate")) {
      std::string why = response.word == "refused"   ? ": this host's address is outside the receiver's allow list"
                        : response.word == "io"       ? ": the receiver could not write it; try again later"
                        : response.word == "too-large" ? ": the receiver takes smaller uploads (max_upload)"
                                                       : "";
      throw Error("the receiver at " + client->where() + " refused " + r.path + " ('" + response.line + "')" + why +
                  "; the record stays where it is");
    }
    (response.word == "stored" ? stored : duplicates) += 1;
    std::string archived = archive(ctx, r, boot_id);
    ctx.root.commit();  // acknowledged and archived: a later failure must not undo this one
    ctx.say(r.path + " (" + std::to_string(r.bytes.size()) + " bytes): " +
            (response.word == "stored" ? "stored by the receiver" : "the receiver already had it") +
            "; archived to " + archived);
    report["records"].push_back({{"path", r.path}, {"name", r.name}, {"size", r.bytes.size()},
                                 {"sha256", r.sha256}, {"result", response.word}, {"archived", archived}});
  }
  ctx.say("Collected " + std::to_string(records.size()) + " pstore record(s) to " + receiver.text + ": " +
          std::to_string(stored) + " new, " + std::to_string(duplicates) + " already there.");
  if (ctx.json) ctx.print_json(report);
  return kExitOk;
}

}  // namespace

void install_collect_unit(Sysroot& root, State& state) {
  install_enabled_unit(root, state, kCollectUnitFile, kCollectUnitWantsLink, kCollectUnitTemplate);
}

SubcommandRun define_collect(CLI::App& command) {
  struct Options {
    std::string to;
    int timeout = 30;
  };
  auto o = std::make_shared<Options>();
  command.add_option("--to", o->to,
                     "the receiver, HOST[:PORT]; by default the one in /etc/lastgasp/sender.toml");
  command.add_option("--timeout", o->timeout, "seconds to wait for the receiver at each step")
      ->check(CLI::Range(1, 600))->capture_default_str();
  return [o](Context& ctx) { return run_collect(ctx, o->to, o->timeout); };
}

}  // namespace lastgasp::setup
