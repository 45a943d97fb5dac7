// Everything that touches the log directory for the hosts' consoles, on a
// thread of its own: per-host logs and incident files (with the fsyncs and
// context copies they need), the journal, state.json, reading where a host's
// streams had got to, the disk quota, and answering verify queries. A slow or
// stalled disk holds up only this thread; receiving goes on.
//
// It takes the shards' messages in order, so each host's lines are written in
// the order its shard made them. Like a shard it has no clock of its own: the
// daemon runs it on a thread, the fuzzer inline.
#pragma once

#include <sys/resource.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "forward/forwarder.hpp"
#include "guard.hpp"
#include "hooks/hook_event.hpp"
#include "hosts/host_state.hpp"
#include "hosts/sender_address.hpp"
#include "live_stream.hpp"
#include "messages.hpp"
#include "receiver_config.hpp"
#include "sinks/disk_worker.hpp"
#include "sinks/file_sink.hpp"
#include "sinks/journal_sink.hpp"
#include "tail/host_rows.hpp"

namespace lastgasp::daemon {

struct WriterFigures {
  sinks::FileSinkCounters files;
  std::uint64_t sync_errors = 0;
  std::uint64_t journal_errors = 0;
  std::uint64_t internal_errors = 0;
  std::uint64_t unwritten_bytes = 0;  // lines buffered, not yet written
  std::uint64_t open_files = 0;
  std::string disk;                   // the disk worker's summary
  std::vector<std::pair<std::string, forward::ForwardCounters>> forwards;  // by [[forward]] name
};

class Writer {
 public:
  // Writes under DIR for SHARDS shards. DESCRIPTOR_LIMIT bounds the files it keeps open.
  Writer(const config::ReceiverConfig& config, const sinks::LogDirectory& dir, unsigned shards,
         rlim_t descriptor_limit);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // From now on each line written goes to LIVE too (for /api/stream): called before the writer
  // runs, only when the HTTP side is open, so that without it the lines cost nothing more.
  void show_live_to(RecordRing& live) { live_ = &live; }
  // SIGHUP: the new config, and every file reopened (after an outside rotation).
  void configure(const config::ReceiverConfig& config);
  // Carries out shard SHARD's messages in order; their lines are written at the next advance().
  void apply(unsigned shard, std::vector<ToWriter>& batch, wire::MonoTime now);
  // Answers to shard SHARD's LoadHost messages.
  std::vector<HostLoaded> take_replies(unsigned shard);
  // A pstore record was stored for the host at KEY (directory NAME): its line, and for a panic
  // record its incident file with CONTENT.
  // PANIC_LINE is the record's panic line, escaped ("" for none).
  void pstore_arrived(const HostKey& key, const std::string& name, const std::string& address, stream::Event event,
                      const std::string& content, const std::string& panic_line, wire::MonoTime now);
  // Answers REPLY once a line of the host at KEY holds TOKEN, or "ERR not-found" at DEADLINE.
  void verify(const HostKey& key, const std::string& name, const std::string& token, wire::MonoTime deadline,
              std::function<void(std::string)> reply);
  // Everything due at NOW: writing buffered lines and making incident files, and each second
  // closing quiet incidents, saving host state (those with an incident first), letting go of
  // hosts no shard holds, and tending the disk.
  void advance(wire::MonoTime now);
  // Exit: every line written; host state saved while time allows.
  void finish();
  WriterFigures figures() const;
  // Every host held, as `hosts` shows it: fresher than its state file.
  std::vector<tail::HostRow> host_rows() const;
  std::uint64_t internal_errors() const { return guard_.errors(); }
  // What the [[hook]] tables run on that happened since the last call: reboots, pstore records,
  // incident files once made (so that a hook can read them), hosts gone silent. Only the kinds
  // some table runs on are kept.
  std::vector<hooks::HookEvent> take_hook_events();

 private:
  struct Host {
    explicit Host(std::string name) : files(std::move(name)) {}
    sinks::HostFiles files;
    hosts::HostState state;
    wire::MonoTime last_active{};
    wire::MonoTime last_saved{};
    bool held = false;  // by its shard
    bool silence_told = false;  // to the hooks, since it last spoke
  };
  // A host let go before it had been silent for silent_after: still to be told of.
  struct Unheard {
    wire::MonoTime last_active;
    std::uint64_t boot;
  };
  struct VerifyWaiter {
    HostKey peer;
    std::string token;
    wire::MonoTime deadline;
    std::function<void(std::string)> reply;
  };

  void apply_one(unsigned shard, ToWriter& message, wire::MonoTime now);
  Host& host_for(const HostKey& key, const std::string& name, const std::string& address);
  Host& held_host(const HostKey& key);
  void write(const HostKey& key, Host& host, WriteEvent& message, wire::MonoTime now);
  void forget(const HostKey& key);
  void save_state(Host& host);
  void save_states_at_exit();
  void answer_verifies(const HostKey& key, const Host& host, const stream::Event& event);
  void expire_verifies(wire::MonoTime now);
  void housekeeping(wire::MonoTime now);
  void tend_disk(wire::MonoTime now);
  void forward(const Host& host, std::optional<std::uint16_t> src, const stream::Event& event);
  void show_live(const Host& host, std::optional<std::uint16_t> src, const stream::Event& event);
  bool hooks_want(config::HookOn kind) const { return (hook_kinds_ >> static_cast<unsigned>(kind)) & 1u; }
  // KIND for HOST in its boot BOOT, which the receiver learned of at WHEN.
  hooks::HookEvent hook_event(config::HookOn kind, const std::string& host, std::uint64_t boot,
                              wire::WallTime when) const;
  void notice_silence(wire::MonoTime now);

  config::ReceiverConfig config_;
  const sinks::LogDirectory& dir_;
  rlim_t descriptor_limit_;
  Guard guard_;
  sinks::FileSink files_;
  std::optional<sinks::JournalSink> journal_;
  std::vector<std::unique_ptr<forward::Forwarder>> forwards_;
  RecordRing* live_ = nullptr;
  std::string live_line_;  // reused: the line as console.log has it
  sinks::TimeFormatter live_time_;
  std::unordered_map<HostKey, std::unique_ptr<Host>, hosts::HostKeyHash> hosts_;
  std::vector<std::vector<HostLoaded>> replies_;  // per shard
  std::vector<VerifyWaiter> verifies_;
  std::deque<HostKey> saves_first_;  // hosts that had an incident: saved at the next pass
  unsigned hook_kinds_ = 0;  // a bit per HookOn some [[hook]] runs on
  std::filesystem::path log_root_;  // log_dir, absolute: hooks are told full paths
  std::vector<hooks::HookEvent> hook_events_;
  std::unordered_map<std::string, Unheard> unheard_;  // by host name
  wire::MonoTime last_housekeeping_{};
  wire::MonoTime last_disk_request_{};
  wire::MonoTime last_disk_recount_{};
  std::uint64_t disk_write_errors_ = 0;  // the sink's write errors when the disk worker last counted
  sinks::DiskWorker disk_;  // last: its thread is joined before the rest goes
};

// The descriptors kept out of max_open_files: TCP sessions, sockets, and short-lived opens.
unsigned reserved_descriptors();

}  // namespace lastgasp::daemon
