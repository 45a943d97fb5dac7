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
#include <memory>

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

// One receiver's side of a collect run: its connection, opened when first
// needed and again after kMaxRequests; once it cannot be reached, it is not
// tried again for the records that follow.
class Destination {
 public:
  Destination(ReceiverAddress receiver, std::chrono::seconds timeout) : receiver_(std::move(receiver)), timeout_(timeout) {}

  const std::string& text() const { return receiver_.text; }
  // "Collected N pstore record(s) to RECEIVER: S new, D already there."
  std::string summary() const {
    return "Collected " + std::to_string(stored_ + duplicates_) + " pstore record(s) to " + receiver_.text + ": " +
           std::to_string(stored_) + " new, " + std::to_string(duplicates_) + " already there.";
  }

  // The receiver's word for R ("stored", "duplicate"), or throws Error saying why it did not take it.
  std::string send(const Record& r, const std::string& host, const std::string& boot_id) {
    if (!unreachable_.empty()) throw Error(unreachable_);
    Response response;
    try {
      if (!client_ || sent_on_connection_ == kMaxRequests) {
        client_ = std::make_unique<ReceiverClient>(receiver_.address, receiver_.port, timeout_);
        sent_on_connection_ = 0;
      }
      std::string header = "LASTGASP/1 PSTORE host=" + percent_encode(host) + " boot_id=" + percent_encode(boot_id) +
                           " name=" + r.name + " size=" + std::to_string(r.bytes.size()) + " sha256=" + r.sha256;
      response = client_->request(header, r.bytes, timeout_);
      ++sent_on_connection_;
    } catch (const Error& e) {
      unreachable_ = e.what();
      client_.reset();
      throw;
    }
    if (response.ok && (response.word == "stored" || response.word == "duplicate")) {
      (response.word == "stored" ? stored_ : duplicates_) += 1;
      return response.word;
    }
    std::string why = response.word == "refused"     ? ": this host's address is outside the receiver's allow list"
                      : response.word == "io"        ? ": the receiver could not write it; try again later"
                      : response.word == "too-large" ? ": the receiver takes smaller uploads (max_upload)"
                                                     : "";
    throw Error("the receiver at " + client_->where() + " refused " + r.path + " ('" + response.line + "')" + why);
  }

 private:
  ReceiverAddress receiver_;
  std::chrono::seconds timeout_;
  std::unique_ptr<ReceiverClient> client_;
  std::size_t sent_on_connection_ = 0;
  std::size_t stored_ = 0, duplicates_ = 0;
  std::string unreachable_;
};

// Each record goes to every receiver; it is archived (and removed from where it
// was) once at least one has it on disk, and stays where it is when none took it.
int run_collect(Context& ctx, const std::vector<std::string>& to, int timeout_s) {
  std::vector<ReceiverAddress> receivers = receiver_addresses(ctx, to);
  std::string host = ctx.root.read_trimmed("/proc/sys/kernel/hostname").value_or("");
  std::string boot_id = ctx.root.read_trimmed("/proc/sys/kernel/random/boot_id").value_or("");
  if (boot_id.empty()) throw Error("cannot read /proc/sys/kernel/random/boot_id");
  std::vector<Record> records = find_records(ctx);
  nlohmann::json report = {{"receivers", nlohmann::json::array()}, {"records", nlohmann::json::array()}};
  std::string names;
  for (const ReceiverAddress& receiver : receivers) {
    report["receivers"].push_back(receiver.text);
    names += (names.empty() ? "" : ", ") + receiver.text;
  }
  if (records.empty()) {
    ctx.say("No pstore records in " + std::string(kPstoreFs) + " or " + kSystemdPstore + ": nothing to collect.");
    if (ctx.json) ctx.print_json(report);
    return kExitOk;
  }
  if (ctx.root.dry_run()) {
    for (const Record& r : records)
      ctx.say("would send " + r.path + " (" + std::to_string(r.bytes.size()) + " bytes, sha256 " + r.sha256 +
              ") to " + names + ", then archive it");
    if (ctx.json) ctx.print_json(report);
    return kExitOk;
  }
  std::vector<Destination> destinations;
  for (const ReceiverAddress& receiver : receivers) destinations.emplace_back(receiver, std::chrono::seconds(timeout_s));
  std::size_t kept = 0;
  bool missed = false;
  for (const Record& r : records) {
    nlohmann::json results = nlohmann::json::object();
    std::vector<std::string> took;
    for (Destination& d : destinations) {
      try {
        std::string word = d.send(r, host, boot_id);
        results[d.text()] = word;
        took.push_back(d.text() + (word == "stored" ? " stored it" : " already had it"));
      } catch (const Error& e) {
        results[d.text()] = std::string("error: ") + e.what();
        ctx.err << "lastgasp-setup collect: " << r.path << " did not reach " << d.text() << ": " << e.what() << '\n';
        missed = true;
      }
    }
    nlohmann::json entry = {{"path", r.path}, {"name", r.name}, {"size", r.bytes.size()}, {"sha256", r.sha256},
                            {"results", results}, {"archived", nullptr}};
    if (took.empty()) {
      ++kept;
      ctx.err << "lastgasp-setup collect: no receiver took " << r.path << ", so it stays where it is\n";
    } else {
      std::string archived = archive(ctx, r, boot_id);
      ctx.root.commit();  // acknowledged and archived: a later failure must not undo this one
      entry["archived"] = archived;
      std::string said;
      for (const std::string& t : took) said += (said.empty() ? "" : ", ") + t;
      ctx.say(r.path + " (" + std::to_string(r.bytes.size()) + " bytes): " + said + "; archived to " + archived);
    }
    report["records"].push_back(entry);
  }
  for (const Destination& d : destinations) ctx.say(d.summary());
  if (kept) ctx.say(std::to_string(kept) + " record(s) reached no receiver and stay where they are.");
  if (ctx.json) ctx.print_json(report);
  return missed ? kExitError : kExitOk;
}

}  // namespace

void install_collect_unit(Sysroot& root, State& state) {
  install_enabled_unit(root, state, kCollectUnitFile, kCollectUnitWantsLink, kCollectUnitTemplate);
}

SubcommandRun define_collect(CLI::App& command) {
  struct Options {
    std::vector<std::string> to;
    int timeout = 30;
  };
  auto o = std::make_shared<Options>();
  command.add_option("--to", o->to,
                     "a receiver, HOST[:PORT], once per receiver; by default every one in /etc/lastgasp/sender.toml")
      ->allow_extra_args(false);
  command.add_option("--timeout", o->timeout, "seconds to wait for the receiver at each step")
      ->check(CLI::Range(1, 600))->capture_default_str();
  return [o](Context& ctx) { return run_collect(ctx, o->to, o->timeout); };
}

}  // namespace lastgasp::setup
