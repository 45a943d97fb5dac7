// lastgasp-blaster: offers realistic extended-netconsole traffic to a receiver over loopback.
//
// Every simulated host has its own UDP socket bound to its own 127.X.Y.Z address (host i is
// --first-host + i), so the receiver sees N distinct senders, as it would from a fleet.
// Records use the kernel's extended format `<prio>,<seq>,<ts_usec>,-;<text>\n[ KEY=value\n]...`
// with a rising seq and ts_usec per host, and records longer than MAX_PRINT_CHUNK are split
// into `ncfrag=<off>/<total>` datagrams exactly as drivers/net/netconsole.c send_ext_msg_udp()
// does. Datagrams go out with sendmmsg, one call per host visit, paced to an offered rate.
//
// Modes:
//   rate    (default)   --hosts N --rate R --duration S   round-robin over hosts
//   per-host            --hosts N --per-host M            every host sends M records, then stops
//   burst               --burst K --burst-ms T            K records from one host in T ms,
//                                                         ending with a real panic sequence
//   storm               --storm --hosts N --storm-ms T    every host sends one whole oops-and-panic
//                                                         sequence, all N within T ms (round-robin,
//                                                         so every host is mid-incident at once)
// Without --warmup-per-host a run is cold: every host's first datagram is part of the measured
// phase. --stamp makes every ordinary record carry its send time (CLOCK_REALTIME) at the end of
// its text, as ` lgsent=<seconds>.<nanoseconds>`, so a reader of the receiver's files can time it.
// --warmup-per-host M first has every host send M records at --warmup-rate and then pauses
// --warmup-pause s, so a receiver meets the hosts (creates their files) before the measured
// phase; with --warmup-until FILE the pause lasts until FILE exists too (at most
// kWarmupWaitMax s), so the caller can start the measured phase once the receiver says it
// holds every host. The warm-up is counted in the totals, not in the achieved rate.
// Hosts beyond one process's RLIMIT_NOFILE are split over forked workers.
// Each load loop is bounded by a record count and by --max-seconds; it always stops by itself.
// The last line on stdout is one JSON object saying what was sent.

#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

// MAX_PRINT_CHUNK in drivers/net/netconsole.c: no datagram is longer.
constexpr std::size_t kMaxPrintChunk = 1000;
constexpr double kWarmupWaitMax = 60.0;  // s, the most --warmup-until waits

struct Line {
  int prio;               // facility << 3 | level
  std::string_view text;  // already escaped as the kernel does (\xNN)
  std::string_view dict;  // dictionary lines, each " KEY=value\n", or empty
};

// Ordinary console traffic: kernel lines as they come from real machines and from the
// capture (/work/shared/qemu-recipe/capture-sample.txt). None of them starts like an
// incident ("Kernel panic", "Oops:", "BUG:", "WARNING: CPU:", "INFO: task ... blocked"), so
// the ceiling runs measure the receiver's ordinary path, not its fsync-on-incident path.
constexpr Line kOrdinary[] = {
    {14, "E2E: hello from the guest, info level", ""},
    {11, "E2E: an error-level line", ""},
    {14, "E2E: a line with non-ascii: caf\\xc3\\xa9 tab[\\x09] end", ""},
    {6, "e1000e 0000:00:1f.6 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
     " SUBSYSTEM=net\n DEVICE=n2\n"},
    {6, "IPv6: ADDRCONF(NETDEV_CHANGE): eno1: link becomes ready", ""},
    {4,
     "[UFW BLOCK] IN=eno1 OUT= MAC=01:00:5e:00:00:01:3c:37:86:5a:2f:10:08:00 SRC=192.168.1.1 "
     "DST=224.0.0.1 LEN=36 TOS=0x00 PREC=0xC0 TTL=1 ID=0 DF PROTO=2",
     ""},
    {6,
     "EXT4-fs (nvme0n1p2): mounted filesystem 3f1c2a9e-5b7d-4e0a-9c1f-2d8e6b4a7c3d r/w with "
     "ordered data mode. Quota mode: none.",
     ""},
    {4, "nvme nvme0: I/O 123 QID 4 timeout, aborting", " SUBSYSTEM=nvme\n DEVICE=c243:0\n"},
    {4, "TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.  Check SNMP counters.", ""},
    {6, "usb 1-1.2: new high-speed USB device number 5 using xhci_hcd", " SUBSYSTEM=usb\n DEVICE=c189:4\n"},
    {6, "usb 1-1.2: New USB device found, idVendor=0781, idProduct=5581, bcdDevice= 1.00", ""},
    {5, "sd 6:0:0:0: [sdb] 60063744 512-byte logical blocks: (30.8 GB/28.6 GiB)",
     " SUBSYSTEM=scsi\n DEVICE=+scsi:6:0:0:0\n"},
    {5,
     "audit: type=1400 audit(1732540000.123:456): apparmor=\"DENIED\" operation=\"open\" "
     "profile=\"/usr/sbin/cupsd\" name=\"/etc/ssl/openssl.cnf\" pid=1234 comm=\"cupsd\" "
     "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0",
     ""},
    {4, "java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0", ""},
    {3,
     "Out of memory: Killed process 23817 (java) total-vm:8912344kB, anon-rss:6123456kB, "
     "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:12836kB oom_score_adj:0",
     ""},
    {5, "nfs: server nfs01.example.net not responding, still trying", ""},
    {3, "      Not tainted 6.1.0-56-amd64 #1 Debian 6.1.192-2", ""},
    {3, "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.", ""},
    {4, "hrtimer: interrupt took 2853746 ns", ""},
    {4, "CPU: 1 PID: 347 Comm: kworker/1:2 Tainted: G        W          6.1.0-56-amd64 #1  Debian 6.1.192-2", ""},
    {4, "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014", ""},
    {4, "RIP: 0010:netif_rx_internal+0x5b/0x110", ""},
    {4, "Call Trace:", ""},
    {4, " <TASK>", ""},
    {4, " dump_stack_lvl+0x44/0x5c", ""},
    {4, " ? _printk+0x68/0x83", ""},
    {4, " __handle_sysrq.cold+0x44/0x11c", ""},
    {4, " vfs_write+0xc7/0x3f0", ""},
    {4, " ksys_write+0x6b/0xf0", ""},
    {4, " do_syscall_64+0x5d/0xb0", ""},
    {4, " ? exit_to_user_mode_prepare+0x44/0x240", ""},
    {4, " entry_SYSCALL_64_after_hwframe+0x6e/0xd8", ""},
    {4, " </TASK>", ""},
    {4, "RSP: 002b:00007fff7c13a0e8 EFLAGS: 00000202 ORIG_RAX: 0000000000000001", ""},
    {4, "RAX: ffffffffffffffda RBX: 0000000000000001 RCX: 000000000047b7a0", ""},
    {4, "---[ end trace 0000000000000000 ]---", ""},
    {4, "perf: interrupt took too long (2513 > 2500), lowering kernel.perf_event_max_sample_rate to 79500", ""},
    {6, "bond0: (slave eno2): link status definitely up, 10000 Mbps full duplex", ""},
    {4, "mce: [Hardware Error]: Machine check events logged", ""},
    {3,
     "EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 "
     "page:0x12345 offset:0x0 grain:32 syndrome:0x0)",
     ""},
    {6, "docker0: port 2(veth3a1b2c4) entered forwarding state", ""},
    {3,
     "I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0",
     " SUBSYSTEM=block\n DEVICE=b8:16\n"},
    {3, "ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x6 frozen", ""},
    {3, "ata1.00: failed command: FLUSH CACHE EXT", ""},
    {4, "nf_conntrack: nf_conntrack: table full, dropping packet", ""},
    {4, "net_ratelimit: 42 callbacks suppressed", ""},
    {6,
     "clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because "
     "the skew is too large:",
     ""},
    {30, "systemd[1]: Started session-42.scope - Session 42 of User root.", ""},
    {7, "wlp2s0: associated", ""},
    {3, "xhci_hcd 0000:00:14.0: WARN Set TR Deq Ptr cmd failed due to incorrect slot or ep state.",
     " SUBSYSTEM=pci\n DEVICE=+pci:0000:00:14.0\n"},
};

// The end of a real panic, from the capture (Debian 6.1 kernel, sysrq-c).
constexpr Line kPanicTail[] = {
    {13, "E2E: about to panic via sysrq-c at uptime 4.50", ""},
    {6, "sysrq: Trigger a crash", ""},
    {0, "Kernel panic - not syncing: sysrq triggered crash", ""},
    {4, "CPU: 0 PID: 1 Comm: init Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2", ""},
    {4, "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014", ""},
    {4, "Call Trace:", ""},
    {4, " <TASK>", ""},
    {4, " dump_stack_lvl+0x44/0x5c", ""},
    {4, " panic+0x118/0x2f4", ""},
    {4, " ? _printk+0x68/0x83", ""},
    {4, " sysrq_handle_crash+0x16/0x20", ""},
    {4, " __handle_sysrq.cold+0x44/0x11c", ""},
    {4, " write_sysrq_trigger+0x24/0x40", ""},
    {4, " proc_reg_write+0x56/0xa0", ""},
    {4, " vfs_write+0xc7/0x3f0", ""},
    {4, " ksys_write+0x6b/0xf0", ""},
    {4, " do_syscall_64+0x5d/0xb0", ""},
    {4, " ? exit_to_user_mode_prepare+0x44/0x240", ""},
    {4, " ? syscall_exit_to_user_mode+0x1e/0x40", ""},
    {4, " ? do_syscall_64+0x69/0xb0", ""},
    {4, " ? filp_close+0x5b/0x70", ""},
    {4, " ? do_dup2+0x96/0xd0", ""},
    {4, " ? handle_mm_fault+0xdb/0x2d0", ""},
    {4, " ? do_user_addr_fault+0x1b0/0x570", ""},
    {4, " entry_SYSCALL_64_after_hwframe+0x6e/0xd8", ""},
    {4, "RIP: 0033:0x47b7a0", ""},
    {4,
     "Code: 40 00 48 c7 c2 e0 ff ff ff f7 d8 64 89 02 48 c7 c0 ff ff ff ff eb b7 0f 1f 00 80 3d "
     "e8 85 16 00 00 74 17 b8 01 00 00 00 0f 05 <48> 3d 00 f0 ff ff 77 58 c3 0f 1f 80 00 00 00 "
     "00 48 83 ec 28 48 89",
     ""},
    {4, "RSP: 002b:00007fff7c13a0e8 EFLAGS: 00000202 ORIG_RAX: 0000000000000001", ""},
    {4, "RAX: ffffffffffffffda RBX: 0000000000000001 RCX: 000000000047b7a0", ""},
    {4, "RDX: 0000000000000002 RSI: 00000000204d6b30 RDI: 0000000000000001", ""},
    {4, "RBP: 00000000204d6b30 R08: fefefefefefefeff R09: fefefefefefeff62", ""},
    {4, "R10: 00000000000001b6 R11: 0000000000000202 R12: 0000000000000002", ""},
    {4, "R13: 00000000204d33a0 R14: 0000000000000001 R15: 00007fff7c13a150", ""},
    {4, " </TASK>", ""},
    {0, "Kernel Offset: disabled", ""},
    {0, "---[ end Kernel panic - not syncing: sysrq triggered crash ]---", ""},
};

// The start of an oops, as a Debian 6.1 kernel prints a NULL pointer dereference in a
// workqueue: the `BUG:` line, the `Oops:` line, registers, the call trace, the module list
// (one long record, fragmented as the kernel does), and the end-of-trace marker. The storm
// follows it with kPanicTail from its `Kernel panic - not syncing` line on: panic_on_oops.
constexpr Line kOopsHead[] = {
    {1, "BUG: kernel NULL pointer dereference, address: 0000000000000008", ""},
    {1, "#PF: supervisor read access in kernel mode", ""},
    {1, "#PF: error_code(0x0000) - not-present page", ""},
    {6, "PGD 0 P4D 0 ", ""},
    {4, "Oops: 0000 [#1] PREEMPT SMP NOPTI", ""},
    {4, "CPU: 1 PID: 347 Comm: kworker/1:2 Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2", ""},
    {4, "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014", ""},
    {4, "Workqueue: events nvme_reset_work [nvme]", ""},
    {4, "RIP: 0010:blk_mq_map_queues+0x28/0x1a0", ""},
    {4,
     "Code: 41 56 41 55 41 54 55 53 48 89 fb 48 83 ec 08 8b 47 08 85 c0 74 6b 45 31 e4 eb 0e 8b 43 "
     "08 41 83 c4 01 44 39 e0 76 5a 48 8b 03 <8b> 50 08 44 89 e6",
     ""},
    {4, "RSP: 0018:ffffb3c0c0a4fd58 EFLAGS: 00010246", ""},
    {4, "RAX: 0000000000000000 RBX: ffff9d0a4b2e0000 RCX: 0000000000000000", ""},
    {4, "RDX: 0000000000000000 RSI: 0000000000000000 RDI: ffff9d0a4b2e0010", ""},
    {4, "RBP: ffff9d0a41a8c000 R08: 0000000000000000 R09: 0000000000000001", ""},
    {4, "R10: 0000000000000000 R11: 0000000000000000 R12: 0000000000000000", ""},
    {4, "R13: ffff9d0a4b2e0010 R14: 0000000000000004 R15: 0000000000000000", ""},
    {4, "FS:  0000000000000000(0000) GS:ffff9d0d7fc80000(0000) knlGS:0000000000000000", ""},
    {4, "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033", ""},
    {4, "CR2: 0000000000000008 CR3: 000000010b40a004 CR4: 00000000003706e0", ""},
    {4, "Call Trace:", ""},
    {4, " <TASK>", ""},
    {4, " nvme_pci_map_queues+0x79/0xa0 [nvme]", ""},
    {4, " blk_mq_update_queue_map+0x9d/0xc0", ""},
    {4, " blk_mq_alloc_tag_set+0x12f/0x390", ""},
    {4, " nvme_reset_work+0x105e/0x1500 [nvme]", ""},
    {4, " process_one_work+0x1c7/0x380", ""},
    {4, " worker_thread+0x4d/0x380", ""},
    {4, " ? rescuer_thread+0x3a0/0x3a0", ""},
    {4, " kthread+0xd7/0x100", ""},
    {4, " ? kthread_complete_and_exit+0x20/0x20", ""},
    {4, " ret_from_fork+0x1f/0x30", ""},
    {4, " </TASK>", ""},
    {4, "", ""},  // empty: the module list, long_bodies[0]
    {4, "CR2: 0000000000000008", ""},
    {4, "---[ end trace 0000000000000000 ]---", ""},
};
constexpr std::size_t kPanicFrom = 2;  // kPanicTail[2] is "Kernel panic - not syncing: ..."

// Long records, the ones the kernel fragments: an oops's module list (the longest ordinary
// kernel line) followed by sysdata and netconsole userdata lines. Built once at start-up.
std::vector<std::string> make_long_bodies() {
  static constexpr std::string_view kModules[] = {
      "nft_chain_nat", "xt_MASQUERADE", "nf_nat", "bridge", "stp", "llc", "xt_conntrack",
      "nf_conntrack", "nf_defrag_ipv6", "nf_defrag_ipv4", "nft_compat", "nf_tables", "nfnetlink",
      "overlay", "binfmt_misc", "intel_rapl_msr", "intel_rapl_common", "x86_pkg_temp_thermal",
      "intel_powerclamp", "coretemp", "kvm_intel", "kvm", "irqbypass", "crct10dif_pclmul",
      "ghash_clmulni_intel", "sha512_ssse3", "sha512_generic", "aesni_intel", "crypto_simd",
      "cryptd", "rapl", "intel_cstate", "ipmi_ssif", "mei_me", "mei", "ioatdma", "acpi_ipmi",
      "ipmi_si", "ipmi_devintf", "ipmi_msghandler", "evdev", "joydev", "sg", "acpi_power_meter",
      "acpi_pad", "button", "netconsole", "configfs", "efi_pstore", "ip_tables", "x_tables",
      "autofs4", "ext4", "crc16", "mbcache", "jbd2", "raid10", "raid456", "async_raid6_recov",
      "async_memcpy", "async_pq", "async_xor", "async_tx", "xor", "raid6_pq", "libcrc32c",
      "crc32c_generic", "raid1", "raid0", "multipath", "linear", "md_mod", "sd_mod", "t10_pi",
      "crc64_rocksoft", "crc64", "crc_t10dif", "crct10dif_generic", "ast", "drm_vram_helper",
      "drm_ttm_helper", "ttm", "drm_kms_helper", "ahci", "libahci", "xhci_pci", "libata",
      "xhci_hcd", "ixgbe", "drm", "crc32_pclmul", "crc32c_intel", "usbcore", "scsi_mod", "igb",
      "xfrm_algo", "mdio", "i2c_algo_bit", "dca", "ptp", "pps_core", "scsi_common", "usb_common",
      "lpc_ich", "wmi"};
  std::string modules = "Modules linked in:";
  for (auto m : kModules) {
    if (modules.size() + 1 + m.size() > 976) break;  // LOG_LINE_MAX: 1024 - PREFIX_MAX
    modules += ' ';
    modules += m;
  }
  const std::string sysdata = " cpu=1\n taskname=kworker/1:2\n release=6.12.57+deb12-amd64\n";
  std::string userdata;
  const std::string_view keys[] = {"datacenter", "rack", "service", "owner", "runbook", "ticket"};
  for (int i = 0; i < 6; ++i) {
    userdata += ' ';
    userdata += keys[i];
    userdata += '=';
    userdata += "https://ops.example.net/fleet/" + std::string(keys[i]) +
                "/a5f0c3e1-7d42-4b8e-9a31-0c6e2f8d1b97/";
    userdata.append(110, static_cast<char>('a' + i));
    userdata += '\n';
  }
  std::vector<std::string> bodies;
  bodies.push_back(modules + "\n" + sysdata);             // ~1.05 KB: 2 fragments
  bodies.push_back(modules + "\n" + userdata + sysdata);  // ~2.1 KB: 3 fragments
  bodies.push_back(modules + "\n" + userdata + userdata + sysdata);  // ~3.1 KB: 4 fragments
  return bodies;
}

// One whole record after its header: the text, its newline and its dictionary lines.
struct Body {
  int prio;
  std::string body;
};

// The storm's sequence, sent once by every host: kOopsHead, then kPanicTail from the panic on.
std::vector<Body> make_storm_sequence(const std::vector<std::string>& long_bodies) {
  std::vector<Body> seq;
  for (const Line& l : kOopsHead) {
    if (l.text.empty()) seq.push_back({l.prio, long_bodies[0]});
    else seq.push_back({l.prio, std::string(l.text) + "\n" + std::string(l.dict)});
  }
  for (std::size_t i = kPanicFrom; i < std::size(kPanicTail); ++i) {
    const Line& l = kPanicTail[i];
    seq.push_back({l.prio, std::string(l.text) + "\n" + std::string(l.dict)});
  }
  return seq;
}

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void sleep_until(double t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t);
  ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// Polls for PATH every 10 ms until it exists or DEADLINE passes.
void wait_for_file(const std::string& path, double deadline) {
  while (access(path.c_str(), F_OK) != 0 && now_s() < deadline) sleep_until(now_s() + 0.01);
}

struct Rng {  // xorshift64*: deterministic for a given --seed
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
};

struct Host {
  int fd = -1;
  std::uint64_t seq = 0;
  std::uint64_t ts_usec = 0;
  std::uint32_t sent = 0;  // records sent by this host
};

struct Options {
  std::string target = "127.0.0.1:6666";
  std::string first_host = "127.1.0.1";
  std::uint32_t hosts = 1;
  int src_port = 6665;  // netconsole's default local port; 0 = ephemeral
  double rate = 10000;  // records per second; 0 = as fast as possible
  double duration = 1.0;
  std::uint64_t count = 0;  // records in all; 0 = rate * duration
  std::uint32_t per_host = 0;
  std::uint32_t burst = 0;
  double burst_ms = 50;
  bool storm = false;
  double storm_ms = 1000;
  bool stamp = false;  // ordinary records end their text with " lgsent=<CLOCK_REALTIME>"
  double long_share = 0.02;
  std::uint32_t per_visit = 4;  // records per host visit = per sendmmsg call
  double tick_us = 500;
  double max_seconds = 0;  // 0 = derived from the count and the rate
  std::uint64_t seed = 1;
  std::uint32_t warmup_per_host = 0;
  double warmup_rate = 20000;
  double warmup_pause = 2.0;
  std::string warmup_until;  // and then until this file exists

};

sockaddr_in parse_addr(const std::string& s, int default_port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  std::string host = s;
  int port = default_port;
  if (auto colon = s.rfind(':'); colon != std::string::npos) {
    host = s.substr(0, colon);
    port = std::stoi(s.substr(colon + 1));
  }
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 || port < 0 || port > 65535) {
    throw std::runtime_error("not an IPv4 address[:port]: " + s);
  }
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

// One host visit's datagrams, laid out for a single sendmmsg call.
class Batch {
 public:
  explicit Batch(std::size_t max_records) : arena_(max_records * 4 * kMaxPrintChunk) {}

  void clear() {
    used_ = 0;
    iovs_.clear();
  }

  // Adds one record as the kernel would send it: whole if it fits in MAX_PRINT_CHUNK,
  // otherwise header (up to ';') + ",ncfrag=<off>/<total>;" + slice, each <= 1000 bytes.
  // Returns the number of datagrams.
  std::size_t add_record(std::string_view rec) {
    if (rec.size() <= kMaxPrintChunk) {
      push(rec, {});
      return 1;
    }
    const auto semi = rec.find(';');
    const std::string_view header = rec.substr(0, semi);
    const std::string_view body = rec.substr(semi + 1);
    std::size_t off = 0;
    std::size_t n = 0;
    char frag[64];
    while (off < body.size()) {
      const int len = std::snprintf(frag, sizeof frag, ",ncfrag=%zu/%zu;", off, body.size());
      const std::size_t this_header = header.size() + static_cast<std::size_t>(len);
      const std::size_t chunk = std::min(body.size() - off, kMaxPrintChunk - this_header);
      push(header, std::string_view(frag, static_cast<std::size_t>(len)), body.substr(off, chunk));
      off += chunk;
      ++n;
    }
    return n;
  }

  std::size_t datagrams() const { return iovs_.size(); }
  std::size_t bytes() const { return used_; }

  // Sends everything on fd; returns the datagrams the kernel took, counts failed calls.
  std::size_t send(int fd, std::uint64_t& errors) {
    msgs_.resize(iovs_.size());
    for (std::size_t i = 0; i < iovs_.size(); ++i) {
      msgs_[i] = {};
      msgs_[i].msg_hdr.msg_iov = &iovs_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    std::size_t done = 0;
    int failures = 0;
    while (done < msgs_.size() && failures < 3) {
      const int r = sendmmsg(fd, msgs_.data() + done, static_cast<unsigned>(msgs_.size() - done), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        ++errors;
        ++failures;
        continue;
      }
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

 private:
  void push(std::string_view a, std::string_view b, std::string_view c = {}) {
    const std::size_t len = a.size() + b.size() + c.size();
    if (used_ + len > arena_.size()) throw std::logic_error("Batch arena too small for this visit");
    char* p = arena_.data() + used_;
    std::memcpy(p, a.data(), a.size());
    std::memcpy(p + a.size(), b.data(), b.size());
    std::memcpy(p + a.size() + b.size(), c.data(), c.size());
    iovs_.push_back({p, len});
    used_ += len;
  }

  std::vector<char> arena_;
  std::size_t used_ = 0;
  std::vector<iovec> iovs_;
  std::vector<mmsghdr> msgs_;
};

// One process can hold at most RLIMIT_NOFILE sockets, and raising the hard limit needs
// CAP_SYS_RESOURCE, so a run with more hosts is split over forked workers.
std::uint32_t hosts_per_process() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t usable = rl.rlim_cur > 128 ? rl.rlim_cur - 64 : 64;
  return static_cast<std::uint32_t>(std::min<rlim_t>(usable, 1u << 22));
}

// A worker's share of the run: hosts [first, first + hosts) of the whole fleet.
struct Share {
  std::uint32_t first = 0;  // added to --first-host
  std::uint32_t hosts = 0;
  std::uint64_t total = 0;  // records
  double rate = 0;          // records/s; 0 = unthrottled
  double stop_after = 0;    // unthrottled with no count: seconds to send for, else 0
  double max_seconds = 0;
  std::uint64_t seed = 0;
};

std::vector<Host> open_hosts(const Options& o, const Share& s, const sockaddr_in& target, Rng& rng) {
  const sockaddr_in first = parse_addr(o.first_host, 0);
  const std::uint32_t base = ntohl(first.sin_addr.s_addr) + s.first;
  std::vector<Host> hosts(s.hosts);
  int ephemeral = 0;
  for (std::uint32_t i = 0; i < s.hosts; ++i) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(base + i);
    src.sin_port = htons(static_cast<std::uint16_t>(o.src_port));
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      if (errno != EADDRINUSE || o.src_port == 0) {
        throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
      }
      src.sin_port = 0;  // someone holds that port on this address: take any
      if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
      }
      ++ephemeral;
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
    hosts[i].fd = fd;
    // A host that has been up for a while: seq and uptime start anywhere.
    hosts[i].seq = 1000 + rng.below(1'000'000);
    hosts[i].ts_usec = 60'000'000 + rng.below(86'400'000'000ULL);
  }
  if (ephemeral > 0) {
    std::fprintf(stderr, "lastgasp-blaster: %d hosts could not bind port %d and use an ephemeral port\n",
                 ephemeral, o.src_port);
  }
  return hosts;
}

struct Totals {
  std::uint64_t records = 0;
  std::uint64_t datagrams = 0;
  std::uint64_t fragmented = 0;
  std::uint64_t bytes = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t unsent_datagrams = 0;
  std::uint64_t timed_out = 0;
  std::uint64_t warmup_records = 0;
  double elapsed = 0;  // of the measured phase
};

// One paced phase: round-robin over the hosts, up to per_visit records per sendmmsg call,
// paced in tick_us steps. Bounded by `total` records and by `max_seconds`.
struct Phase {
  std::uint64_t total = 0;
  double rate = 0;             // 0 = unthrottled
  std::uint32_t per_host = 0;  // 0 = no per-host limit
  double stop_after = 0;       // unthrottled with no count: seconds to send for, else 0
  double max_seconds = 0;
  bool panic_tail = false;     // the phase's last records are the panic sequence
  const std::vector<Body>* sequence = nullptr;  // each host sends exactly this (per_host = its size)
};

Totals run_phase(const Options& o, const Phase& p, std::vector<Host>& hosts, Rng& rng,
                 const std::vector<std::string>& long_bodies) {
  constexpr std::size_t kTail = std::size(kPanicTail);
  Batch batch(o.per_visit);
  std::string rec;
  rec.reserve(8192);
  Totals t;
  const double tick = o.tick_us * 1e-6;
  std::size_t cursor = 0;
  for (auto& h : hosts) h.sent = 0;
  const double t0 = now_s();
  const double stop_at = t0 + (p.stop_after > 0 ? p.stop_after : p.max_seconds);
  std::uint64_t next_tick = 1;

  while (t.records < p.total) {
    const double now = now_s();
    if (now > stop_at) {
      t.timed_out = p.stop_after > 0 ? 0 : 1;
      break;
    }
    const std::uint64_t due =
        p.rate > 0 ? std::min<std::uint64_t>(p.total, static_cast<std::uint64_t>(std::ceil(p.rate * (now - t0))))
                   : p.total;
    while (t.records < due) {
      Host& h = hosts[cursor];
      std::uint64_t k = std::min<std::uint64_t>(o.per_visit, due - t.records);
      if (p.per_host > 0) k = std::min<std::uint64_t>(k, p.per_host - h.sent);
      batch.clear();
      for (std::uint64_t j = 0; j < k; ++j) {
        const std::uint64_t index = t.records + j;  // with a panic tail there is one host
        const Line* line = nullptr;
        std::string_view body_long;
        const Body* whole = p.sequence ? &(*p.sequence)[h.sent + j] : nullptr;
        if (whole) {
          body_long = whole->body;
        } else if (p.panic_tail && index + kTail >= p.total) {
          line = &kPanicTail[index + kTail - p.total];
        } else if (o.long_share > 0 && rng.unit() < o.long_share) {
          body_long = long_bodies[rng.below(long_bodies.size())];
        } else {
          line = &kOrdinary[rng.below(std::size(kOrdinary))];
        }
        h.seq += 1;
        h.ts_usec += 1 + rng.below(2000);
        char head[64];
        const int prio = whole ? whole->prio : line ? line->prio : 4;
        const int hl = std::snprintf(head, sizeof head, "%d,%llu,%llu,-;", prio,
                                     static_cast<unsigned long long>(h.seq),
                                     static_cast<unsigned long long>(h.ts_usec));
        rec.assign(head, static_cast<std::size_t>(hl));
        if (line) {
          rec += line->text;
          if (o.stamp) {  // the send time, read as late as the record is made: just before sendmmsg
            timespec wall{};
            clock_gettime(CLOCK_REALTIME, &wall);
            char stamp[48];
            const int sl = std::snprintf(stamp, sizeof stamp, " lgsent=%lld.%09ld",
                                         static_cast<long long>(wall.tv_sec), wall.tv_nsec);
            rec.append(stamp, static_cast<std::size_t>(sl));
          }
          rec += '\n';
          rec += line->dict;
        } else {
          rec += body_long;
        }
        if (batch.add_record(rec) > 1) ++t.fragmented;
      }
      const std::size_t sent = batch.send(h.fd, t.send_errors);
      t.unsent_datagrams += batch.datagrams() - sent;
      t.datagrams += sent;
      t.bytes += batch.bytes();
      t.records += k;
      h.sent += static_cast<std::uint32_t>(k);
      if (++cursor == hosts.size()) cursor = 0;
      if (p.per_host > 0) {
        // skip hosts that are done (only when per_visit < per_host, on the last round)
        for (std::size_t guard = 0; guard < hosts.size() && hosts[cursor].sent >= p.per_host; ++guard) {
          if (++cursor == hosts.size()) cursor = 0;
        }
      }
      if (p.rate <= 0 && now_s() > stop_at) break;
    }
    if (p.rate > 0 && t.records < p.total) {
      const auto passed = static_cast<std::uint64_t>((now_s() - t0) / tick);
      next_tick = std::max(next_tick, passed + 1);
      sleep_until(t0 + static_cast<double>(next_tick) * tick);
      ++next_tick;
    }
  }
  t.elapsed = now_s() - t0;
  return t;
}

// A worker's whole run: open its hosts, the optional warm-up (every host introduces itself
// with a few records, then a pause lets the receiver create its files), then the measured
// phase. Totals count both phases; elapsed is the measured phase's.
Totals blast(const Options& o, const Share& s, const sockaddr_in& target, const std::vector<std::string>& long_bodies,
             const std::vector<Body>& storm) {
  Rng rng{s.seed * 0x9E3779B97F4A7C15ULL + 1};
  std::vector<Host> hosts = open_hosts(o, s, target, rng);
  Totals warm;
  if (o.warmup_per_host > 0) {
    Phase w;
    w.per_host = o.warmup_per_host;
    w.total = static_cast<std::uint64_t>(w.per_host) * s.hosts;
    w.rate = o.warmup_rate * s.hosts / o.hosts;
    w.max_seconds = s.max_seconds;
    warm = run_phase(o, w, hosts, rng, long_bodies);
    sleep_until(now_s() + o.warmup_pause);
    if (!o.warmup_until.empty()) wait_for_file(o.warmup_until, now_s() + kWarmupWaitMax);
  }
  Phase m;
  m.total = s.total;
  m.rate = s.rate;
  m.per_host = o.per_host;
  m.stop_after = s.stop_after;
  m.max_seconds = s.max_seconds;
  m.panic_tail = o.burst > 0;
  if (o.storm) m.sequence = &storm;
  Totals t = run_phase(o, m, hosts, rng, long_bodies);
  for (auto& h : hosts) close(h.fd);
  t.warmup_records = warm.records;
  t.records += warm.records;
  t.datagrams += warm.datagrams;
  t.fragmented += warm.fragmented;
  t.bytes += warm.bytes;
  t.send_errors += warm.send_errors;
  t.unsent_datagrams += warm.unsent_datagrams;
  t.timed_out += warm.timed_out;
  return t;
}

// Runs every share in its own forked worker and adds up what they sent.
Totals run_workers(const Options& o, const std::vector<Share>& shares, const sockaddr_in& target,
                   const std::vector<std::string>& long_bodies, const std::vector<Body>& storm) {
  if (shares.size() == 1) return blast(o, shares[0], target, long_bodies, storm);
  std::vector<std::pair<pid_t, int>> children;
  for (const Share& s : shares) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      close(fds[0]);
      int rc = 0;
      Totals t;
      try {
        t = blast(o, s, target, long_bodies, storm);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "lastgasp-blaster worker: %s\n", e.what());
        rc = 1;
      }
      const ssize_t w = write(fds[1], &t, sizeof t);
      _exit(w == static_cast<ssize_t>(sizeof t) ? rc : 1);
    }
    close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  Totals sum;
  bool failed = false;
  for (auto [pid, fd] : children) {
    Totals t;
    const ssize_t r = read(fd, &t, sizeof t);
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    if (r != static_cast<ssize_t>(sizeof t) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = true;
    sum.records += t.records;
    sum.datagrams += t.datagrams;
    sum.fragmented += t.fragmented;
    sum.bytes += t.bytes;
    sum.send_errors += t.send_errors;
    sum.unsent_datagrams += t.unsent_datagrams;
    sum.timed_out += t.timed_out;
    sum.warmup_records += t.warmup_records;
    sum.elapsed = std::max(sum.elapsed, t.elapsed);
  }
  if (failed) throw std::runtime_error("a worker failed");
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"lastgasp-blaster: realistic extended-netconsole traffic from N loopback hosts"};
  app.add_option("--target", o.target, "receiver address ip:port")->capture_default_str();
  app.add_option("--hosts", o.hosts, "simulated hosts, each its own socket and 127.x.y.z address")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 22));
  app.add_option("--first-host", o.first_host, "address of host 0; host i is this + i")->capture_default_str();
  app.add_option("--src-port", o.src_port, "local port of every host (0: ephemeral)")->capture_default_str();
  app.add_option("--rate", o.rate, "offered records per second (0: unthrottled)")->capture_default_str();
  app.add_option("--duration", o.duration, "seconds to send for (rate mode)")->capture_default_str();
  app.add_option("--count", o.count, "records to send in all (overrides rate * duration)");
  app.add_option("--per-host", o.per_host, "every host sends exactly this many records, then stops");
  app.add_option("--burst", o.burst, "burst mode: this many records from one host, ending in a panic");
  app.add_option("--burst-ms", o.burst_ms, "burst mode: spread the burst over this many ms")->capture_default_str();
  app.add_flag("--storm", o.storm,
               "storm mode: every host sends one whole oops-and-panic sequence, all hosts within --storm-ms");
  app.add_option("--storm-ms", o.storm_ms, "storm mode: spread the storm over this many ms")->capture_default_str();
  app.add_flag("--stamp", o.stamp, "end every ordinary record's text with ' lgsent=<CLOCK_REALTIME s.ns>'");
  app.add_option("--long-share", o.long_share, "share of records long enough to be sent as ncfrag fragments")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--per-visit", o.per_visit, "records per host visit (one sendmmsg call)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--tick-us", o.tick_us, "pacing step in microseconds")->capture_default_str();
  app.add_option("--max-seconds", o.max_seconds, "hard time bound (0: twice the planned time + 5 s)");
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--warmup-per-host", o.warmup_per_host,
                 "before the measured phase every host sends this many records (not in the rate)");
  app.add_option("--warmup-rate", o.warmup_rate, "records/s of the warm-up")->capture_default_str();
  app.add_option("--warmup-pause", o.warmup_pause, "seconds between warm-up and measured phase")->capture_default_str();
  app.add_option("--warmup-until", o.warmup_until,
                 "after the pause, wait until this file exists too (the caller makes it when the receiver is warm)");
  CLI11_PARSE(app, argc, argv);

  try {
    const bool burst = o.burst > 0;
    if (burst && o.storm) throw std::runtime_error("--burst and --storm are two modes: give one");
    if (burst) {
      o.hosts = 1;
      o.count = o.burst;
      o.rate = o.burst_ms > 0 ? o.burst * 1000.0 / o.burst_ms : 0;
    }
    const std::vector<std::string> long_bodies = make_long_bodies();
    const std::vector<Body> storm = make_storm_sequence(long_bodies);
    if (o.storm) {
      o.per_host = static_cast<std::uint32_t>(storm.size());
      o.count = 0;
      o.warmup_per_host = 0;  // a storm is the hosts' first words; warm the receiver with another run
      o.rate = o.storm_ms > 0 ? static_cast<double>(o.per_host) * o.hosts * 1000.0 / o.storm_ms : 0;
    }
    std::uint64_t total = o.count;
    if (o.per_host > 0) total = static_cast<std::uint64_t>(o.per_host) * o.hosts;
    // Unthrottled with no count: send for --duration, bounded by a count no run can reach.
    const bool until_duration = total == 0 && o.rate <= 0;
    if (until_duration) total = static_cast<std::uint64_t>(o.duration * 50e6);
    if (total == 0) total = static_cast<std::uint64_t>(std::llround(o.rate * o.duration));
    if (total == 0) throw std::runtime_error("nothing to send: give --rate and --duration, --count, --per-host or --burst");
    const double planned = until_duration ? o.duration : o.rate > 0 ? static_cast<double>(total) / o.rate : 10.0;
    if (o.max_seconds <= 0) o.max_seconds = 2 * planned + 5;

    const sockaddr_in target = parse_addr(o.target, 6666);
    const std::uint32_t base = ntohl(parse_addr(o.first_host, 0).sin_addr.s_addr);
    if ((base >> 24) != 127 || (base & 0x00ffffffu) + o.hosts > 0x01000000u) {
      throw std::runtime_error("hosts must stay inside 127.0.0.0/8");
    }

    // Split the fleet into equal shares, each small enough for one process's descriptors.
    const std::uint32_t per_process = hosts_per_process();
    const std::uint32_t workers = (o.hosts + per_process - 1) / per_process;
    std::vector<Share> shares;
    std::uint64_t records_left = total;
    for (std::uint32_t w = 0, first = 0; w < workers; ++w) {
      Share s;
      s.first = first;
      s.hosts = o.hosts / workers + (w < o.hosts % workers ? 1 : 0);
      const double part = static_cast<double>(s.hosts) / o.hosts;
      s.total = w + 1 == workers ? records_left : static_cast<std::uint64_t>(static_cast<double>(total) * part);
      if (o.per_host > 0) s.total = static_cast<std::uint64_t>(o.per_host) * s.hosts;
      records_left -= s.total;
      s.rate = o.rate * part;
      s.stop_after = until_duration ? o.duration : 0;
      s.max_seconds = o.max_seconds;
      s.seed = o.seed * 1000 + w;
      first += s.hosts;
      shares.push_back(s);
    }
    const Totals t = run_workers(o, shares, target, long_bodies, storm);

    const char* mode = burst ? "burst" : o.storm ? "storm" : (o.per_host > 0 ? "per-host" : "rate");
    std::printf(
        "{\"tool\":\"lastgasp-blaster\",\"mode\":\"%s\",\"hosts\":%u,\"workers\":%u,\"offered_rate\":%.0f,"
        "\"records\":%llu,\"warmup_records\":%llu,\"fragmented_records\":%llu,\"datagrams\":%llu,\"bytes\":%llu,"
        "\"elapsed_s\":%.6f,\"achieved_rate\":%.0f,\"send_errors\":%llu,\"unsent_datagrams\":%llu,"
        "\"timed_out\":%s,\"sequence_records\":%u}\n",
        mode, o.hosts, workers, o.rate, static_cast<unsigned long long>(t.records),
        static_cast<unsigned long long>(t.warmup_records),
        static_cast<unsigned long long>(t.fragmented), static_cast<unsigned long long>(t.datagrams),
        static_cast<unsigned long long>(t.bytes), t.elapsed,
        t.elapsed > 0 ? static_cast<double>(t.records - t.warmup_records) / t.elapsed : 0.0,
        static_cast<unsigned long long>(t.send_errors), static_cast<unsigned long long>(t.unsent_datagrams),
        t.timed_out ? "true" : "false", o.storm ? o.per_host : 0u);
    return t.timed_out || t.unsent_datagrams > 0 ? 2 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lastgasp-blaster: %s\n", e.what());
    return 1;
  }
}
