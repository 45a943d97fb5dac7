// The receiver's settings: defaults, the TOML file (config/receiver.toml documents
// every key), then command-line overrides applied by the caller.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lastgasp::config {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr const char* kDefaultReceiverConfig = "/etc/lastgasp/receiver.toml";

// A [[forward]] table: where the consoles go besides the local logs.
struct Forward {
  // tcp and tls: RFC 5424 with octet counting (RFC 6587, RFC 5425); relp and relp-tls: rsyslog's
  // acknowledged protocol (librelp), the latter over TLS.
  enum class Protocol { tcp, tls, relp, relp_tls };
  std::string name;      // its spool directory under spool_dir, and in messages
  Protocol protocol = Protocol::tcp;
  std::string host;      // a name or an address
  std::uint16_t port = 0;
  std::filesystem::path ca_file;    // tls, relp-tls: the server's certificate is verified against it
  std::filesystem::path cert_file;  // tls, relp-tls: a client certificate, with key_file; optional
  std::filesystem::path key_file;
  std::string hosts = "*";          // a glob over host names: whose records go
  unsigned max_level = 7;           // records of this level or more urgent go (min_level in the file)
  bool events_only = false;         // only our own lines: panics, incidents, gaps, reboots, pstore records
  std::uint64_t queue_memory = 8u << 20;  // bytes held in memory before spilling to disk
  std::uint64_t spool_size = 256u << 20;  // bytes on disk; past it the oldest ordinary records go
  bool operator==(const Forward&) const = default;
  bool uses_tls() const { return protocol == Protocol::tls || protocol == Protocol::relp_tls; }
  bool uses_relp() const { return protocol == Protocol::relp || protocol == Protocol::relp_tls; }
};

// What a [[hook]] runs on: the events of a host the daemon learns of.
enum class HookOn : unsigned { panic, incident, silent, reboot, pstore };
inline constexpr std::array<const char*, 5> kHookOnNames = {"panic", "incident", "silent", "reboot", "pstore"};

// A [[hook]] table: a program run, never through a shell, when one of its events happens.
struct Hook {
  std::string name;                      // in metrics and notices
  unsigned on = 0;                       // a bit per HookOn
  std::filesystem::path program;         // absolute
  std::vector<std::string> args;         // after the program's name
  std::string hosts = "*";               // a glob over host names: whose events run it
  seconds timeout{30};                   // then SIGTERM to its process group, and SIGKILL after a grace
  unsigned concurrency = 1;              // runs of this table at once...
  unsigned queue = 16;                   // ...events waiting for one; further ones dropped and counted
  unsigned max_per_minute = 10;          // events taken in any minute; further ones dropped and counted
  bool operator==(const Hook&) const = default;
  bool runs_on(HookOn event) const { return (on >> static_cast<unsigned>(event)) & 1u; }
};

struct ReceiverConfig {
  std::vector<std::string> listen{"[::]:6666"};
  std::filesystem::path log_dir{"/var/log/lastgasp"};
  std::uint64_t receive_buffer = 8u << 20;     // per receive socket
  unsigned receive_threads = 0;                // 0: one per CPU the daemon may run on

  // Timing: together these bound how long a record can wait before it is written.
  milliseconds reorder_window{100};     // how long a record waits for a missing earlier seq
  milliseconds fragment_timeout{100};   // how long an ncfrag message waits for its missing bytes
  milliseconds legacy_line_timeout{100};  // how long a partial legacy line waits for its end
  milliseconds flush_interval{25};      // how often buffered lines are written out

  unsigned incident_context = 200;      // records before a trigger copied into the incident file
  seconds incident_quiet{30};           // silence that closes an open incident
  unsigned incident_burst = 5;          // new incident files a host may open at once...
  seconds incident_refill{60};          // ...and one more each this often
  std::uint64_t incident_max_size = 4u << 20;  // bytes in one incident file
  seconds stream_idle{300};             // a host silent this long is evicted (it resumes from its log)
  unsigned max_hosts = 262144;          // hosts held at once; datagrams from more are counted and dropped
  unsigned max_streams_per_host = 64;   // source ports of one address held at once
  unsigned new_hosts_per_second = 100;  // hosts never seen before admitted per second...
  unsigned new_hosts_burst = 1024;      // ...after a first burst of this many

  std::uint64_t reassembly_stream_cap = 256u << 10;  // pending fragment bytes per stream
  std::uint64_t reassembly_host_cap = 512u << 10;    // pending fragment bytes per sender address
  std::uint64_t reassembly_global_cap = 64u << 20;   // pending fragment bytes in all
  unsigned max_open_files = 1024;       // log and incident files open at once (least recently used closed)

  bool journal = false;                 // also write every record to the systemd journal
  std::uint64_t rotate_size = 256u << 20;  // rotate console.log past this size (0: never)
  unsigned rotate_keep = 5;             // rotated files kept: console.log.1 .. console.log.N
  std::uint64_t disk_quota = 20ull << 30;  // bytes under log_dir for all hosts together (0: none)
  std::uint64_t host_quota = 1ull << 30;   // bytes under log_dir/<host> (0: none)
  std::uint64_t min_free_bytes = 0;        // free space kept on log_dir's filesystem...
  unsigned min_free_percent = 5;           // ...or this share of it (min_free_bytes 0)
  seconds silent_after{300};            // `hosts` calls a host silent after this long

  std::vector<std::string> allow;       // CIDRs senders may come from (netconsole and uploads); empty: any
  std::uint64_t max_upload = 4u << 20;  // bytes in one pstore record upload
  std::uint64_t upload_memory = 32u << 20;        // upload bytes held in memory by all connections together
  std::uint64_t pstore_quota = 1ull << 30;        // bytes of pstore records kept for all hosts together
  std::uint64_t pstore_host_quota = 64u << 20;    // bytes of pstore records kept per host
  unsigned pstore_host_records = 256;             // pstore records kept per host

  std::map<std::string, std::string> hosts;  // sender address -> host name (directory)

  // The read-only HTTP side: /metrics and /api/hosts. Empty: off. Anywhere but loopback it
  // needs a bearer token, read from http_token_file.
  std::string http_listen{"127.0.0.1:9666"};
  std::filesystem::path http_token_file;
  // Both set: HTTPS only, with this certificate (a PEM chain) and key. `hosts` verifies the daemon
  // against http_tls_ca_file, or else against the certificate itself.
  std::filesystem::path http_tls_cert_file;
  std::filesystem::path http_tls_key_file;
  std::filesystem::path http_tls_ca_file;
  bool http_uses_tls() const { return !http_tls_cert_file.empty(); }

  std::filesystem::path spool_dir{"/var/lib/lastgasp/spool"};  // the forwards' spools
  std::vector<Forward> forwards;
  std::vector<Hook> hooks;
};

// Reads FILE over the defaults. Throws ConfigError ("FILE:LINE:COL: key 'K': ...").
ReceiverConfig load_receiver_config(const std::filesystem::path& file, ReceiverConfig base = {});

// Why TEXT is not a listen address (ADDR:PORT, the address numeric), or empty when it is one.
std::string listen_address_error(const std::string& text);

}  // namespace lastgasp::config
