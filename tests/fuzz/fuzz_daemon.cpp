// libFuzzer target for the whole daemon path: datagrams from several sources
// and steps of time go through the real Daemon (two shards with their host
// tables, loading and streams, the writer with host state and its save, the
// file sink with rotation, incidents and the descriptor budget) into a scratch
// log directory. Only the sockets and threads are left out: the input plays the
// listener, step_time() the timers, and the daemon hands messages between the
// shards and the writer inline, in the order its queues would.
//
// What must hold for any input: nothing throws into the daemon's guard (its
// internal error count stays 0), and everything written reads back: every
// log line splits into its columns with no control byte in it, and every
// state.json parses.
#include <fuzzer/FuzzedDataProvider.h>
#include <netinet/in.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "daemon/daemon.hpp"
#include "hosts/host_state.hpp"
#include "sinks/log_line.hpp"
#include "sinks/state_file.hpp"

using namespace lastgasp;
namespace fs = std::filesystem;

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  fprintf(stderr, "fuzz_daemon: %s\n", what);
  std::abort();
}

// In memory where the machine has /dev/shm: a run makes and removes dozens of files.
// libFuzzer may end the process without running exit handlers, so each process
// sweeps the directories of fuzzers no longer running before it makes its own.
const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path base = fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path();
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(base, ignored)) {
      std::string name = entry.path().filename();
      if (name.starts_with("fuzz_daemon.") && !fs::exists("/proc/" + name.substr(12))) fs::remove_all(entry, ignored);
    }
    fs::path mine = base / ("fuzz_daemon." + std::to_string(::getpid()));
    fs::create_directories(mine);
    return mine;
  }();
  return dir;
}

// Small limits, so that short inputs reach every bound: the descriptor budget, rotation,
// the incident rate and size, streams per host, new hosts, and the host table itself.
config::ReceiverConfig fuzz_config(const fs::path& log_dir) {
  config::ReceiverConfig c;
  c.log_dir = log_dir;
  c.receive_threads = 2;
  c.max_open_files = 16;
  c.rotate_size = 64 << 10;
  c.rotate_keep = 2;
  c.incident_context = 20;
  c.incident_burst = 2;
  c.incident_refill = std::chrono::seconds(5);
  c.incident_max_size = 64 << 10;
  c.max_hosts = 24;
  c.max_streams_per_host = 4;
  c.new_hosts_per_second = 1;
  c.new_hosts_burst = 12;
  c.stream_idle = std::chrono::seconds(20);
  c.reassembly_stream_cap = 128 << 10;
  c.reassembly_host_cap = 160 << 10;
  c.reassembly_global_cap = 512 << 10;
  c.hosts = {{"10.0.0.1", "named-host"}, {"fd00::2", "other"}};
  return c;
}

// One of 32 sources: IPv4, IPv6 and IPv4-mapped IPv6, a few ports each.
sockaddr_in6 source(FuzzedDataProvider& input) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  auto host = input.ConsumeIntegralInRange<std::uint8_t>(0, 31);
  static const std::uint16_t kPorts[] = {6665, 6666, 1024, 40000, 65535};
  sa.sin6_port = htons(kPorts[input.ConsumeIntegralInRange<std::size_t>(0, std::size(kPorts) - 1)]);
  if (host < 16) {  // ::ffff:10.0.0.N
    sa.sin6_addr.s6_addr[10] = sa.sin6_addr.s6_addr[11] = 0xff;
    sa.sin6_addr.s6_addr[12] = 10;
    sa.sin6_addr.s6_addr[15] = host;
  } else {  // fd00::N
    sa.sin6_addr.s6_addr[0] = 0xfd;
    sa.sin6_addr.s6_addr[15] = static_cast<std::uint8_t>(host - 16);
  }
  return sa;
}

void check_log(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    check(sinks::split_log_line(line).has_value(), "a log line does not split into its columns");
    for (char c : line) check(c == '\t' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f), "a control byte in a log line");
  }
}

void check_written(const fs::path& log_dir) {
  for (const auto& entry : fs::recursive_directory_iterator(log_dir)) {
    if (!entry.is_regular_file()) continue;
    const fs::path& path = entry.path();
    if (path.filename() == sinks::kStateFile) {
      std::ifstream in(path, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      check(hosts::HostState::from_json(text).has_value(), "a state.json does not parse");
    } else if (path.extension() == ".log" || path.filename().string().starts_with("console.log")) {
      check_log(path);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  const fs::path log_dir = scratch() / "run";
  fs::remove_all(log_dir);
  {
    boost::asio::io_context io(1);
    config::ReceiverConfig cfg = fuzz_config(log_dir);
    daemon::Daemon daemon(io, cfg, [cfg] { return cfg; });
    wire::Instant now{wire::MonoTime{} + std::chrono::hours(1), wire::WallTime{} + std::chrono::hours(24 * 20000)};
    while (input.remaining_bytes() > 0) {
      switch (input.ConsumeIntegralInRange(0, 9)) {
        case 0: {  // time passes: timeouts, flushes, housekeeping
          auto step = std::chrono::milliseconds(input.ConsumeIntegralInRange(0, 2000));
          now.mono += step;
          now.wall += step;
          daemon.step_time(now.mono);
          break;
        }
        case 1: {  // a long silence: idle streams and hosts are let go, incidents close
          now.mono += std::chrono::seconds(40);
          now.wall += std::chrono::seconds(40);
          daemon.step_time(now.mono);
          break;
        }
        default: {
          sockaddr_in6 from = source(input);
          std::string payload = input.ConsumeRandomLengthString(9000);
          daemon.step_datagram(reinterpret_cast<const sockaddr*>(&from), sizeof from, payload, now);
        }
      }
      check(daemon.internal_errors() == 0, "work threw into the daemon's guard");
    }
    daemon.stop();
    check(daemon.internal_errors() == 0, "work threw into the daemon's guard");
  }
  check_written(log_dir);
  fs::remove_all(log_dir);
  return 0;
}
