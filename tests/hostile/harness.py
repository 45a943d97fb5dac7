"""The attack suite's harness: the real lastgasp-receiver, a legitimate host, and the measures.

Every attack test (attacks.py) runs the same way:

  * the receiver is started with a config file written here (defaults, unless the
    attack needs a key), a private log dir in a temp dir, on 127.0.0.1 and a port
    free for both UDP and TCP; ready when its output says "listening on";
  * a legitimate host (127.0.0.1, one fixed source port) sends real extended-format
    netconsole records at a steady modest rate the whole time, each with a unique
    token, and at the end an oops and a `Kernel panic - not syncing`;
  * a poller reads LOG_DIR/127.0.0.1/console.log every few ms and times each legit
    record from its send to its line being readable;
  * a monitor samples /proc/PID/status (VmRSS, VmHWM) and whether the daemon lives;
  * at the end: every legit record there, in order, once, with the panic line, its
    `lastgasp: panic` line and an incident file; p99 and max latency within the
    budget; RSS within the bound; disk and directories within the test's bounds;
    SIGTERM ends the daemon with exit 0 within 2 s.

Every check is collected, and a failing test prints every figure measured and the
tail of the receiver's output. Attack traffic runs in child processes (so the
poller's clock is not stalled by the attacker's Python), niced a little, and every
load loop stops by itself on a count and a deadline. All traffic goes to 127.0.0.1.
"""

import ctypes
import math
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ports import free_port  # noqa: E402  (tests/support: one of it)

# ---- The bounds, from the issue (#8) and the receiver's documented defaults ------------------

# Under AddressSanitizer (.ci/test runs every suite again in an ASan build) the daemon is two to
# three times slower and LeakSanitizer scans the heap at exit: CMake sets this to 2 there, and
# every time bound below is multiplied by it. The plain build is held to the figures as written.
TIME_SCALE = float(os.environ.get("LASTGASP_HOSTILE_TIME_SCALE", "1"))
# README and lastgasp-receiver(8): "every record is on disk within 250 ms of its arrival".
LATENCY_P99_MAX = 0.250 * TIME_SCALE
LATENCY_MAX = 0.250 * TIME_SCALE
# Issue #8, "Bounded by design": RSS <= 256 MiB under any attack in the issue, default settings.
RSS_MAX = 256 << 20
# lastgasp-receiver(8): SIGTERM writes everything held and exits 0; systemd's stop timeout must
# never be reached, and the brief asks for 2 s.
STOP_MAX = 2.0 * TIME_SCALE
# How long the legit host's final panic may take to show up before we call it missing. Longer
# than the latency budget on purpose: a late panic is reported with its latency, a missing one
# as missing.
PANIC_WAIT = 3.0
# The legitimate host's own files: its records (~120 bytes a line), its incident (200 lines of
# context and the oops), its state. Generous: what matters is what the attacker adds.
LEGIT_HOST_BYTES = 4 << 20
# A file or directory the receiver writes for one sender that sent a datagram or two: its
# console.log (a few lines), state file, incident directory and file. The intent is that
# a spoofed source costs little and bounded disk; no per-host file quota is documented yet, so
# this is the named bound for "a host that said almost nothing".
SMALL_HOST_BYTES = 4 << 10
# Issue #8 "Disk": new directories for unknown senders are rate-limited. The receiver's defaults
# (new_hosts_burst / new_hosts_per_second) admit a first burst of 1,024 new hosts and then 100 a
# second; an operator must be able to count on a spoofed flood of
# 65,536 sources not leaving 65,536 directories. We allow the burst, the rate over the attack,
# and 10% on top.
NEW_HOSTS_BURST = 1024
NEW_HOSTS_PER_SECOND = 100

# Each test's log dir is a tmpfs of this size in a private mount namespace (see private_tmpfs):
# floods leave tens of thousands of directories, which take minutes to create and remove on the
# shared ext4 of a CI machine, and a receiver that fills its log dir must not fill the machine's
# disk. LASTGASP_HOSTILE_TMPFS=0 runs on the real file system under $TMPDIR instead.
TMPFS_SIZE = "2g"

LEGIT_ADDRESS = "127.0.0.1"
RECEIVER_ADDRESS = "127.0.0.1"
POLL_INTERVAL = 0.003
MIB = 1 << 20


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- Wire helpers ---------------------------------------------------------------------------

def ext(prio, seq, ts_usec, text, fields=b""):
    """One extended-format netconsole record: `prio,seq,ts,-;text\\n` then ` key=value\\n` lines."""
    if isinstance(text, str):
        text = text.encode()
    return b"%d,%d,%d,-;" % (prio, seq, ts_usec) + text + b"\n" + fields


def ncfrag(prio, seq, ts_usec, text, max_datagram=1000):
    """The datagrams netconsole sends for a record longer than one: the header repeated, then
    `,ncfrag=<offset>/<total>;` and a slice of the body (text and its newline), each <= 1000 B."""
    if isinstance(text, str):
        text = text.encode()
    body = text + b"\n"
    header = b"%d,%d,%d,-" % (prio, seq, ts_usec)
    out, offset = [], 0
    while offset < len(body):
        prefix = header + b",ncfrag=%d/%d;" % (offset, len(body))
        piece = body[offset:offset + max_datagram - len(prefix)]
        out.append(prefix + piece)
        offset += len(piece)
    return out


class Spoofer:
    """UDP datagrams with any 127.0.0.0/8 source address and port, through a raw socket
    (IP_HDRINCL). Root only; loopback only."""

    def __init__(self, port, target=RECEIVER_ADDRESS):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.port = port
        self.target = target
        self.target_bytes = socket.inet_aton(target)

    def send(self, source, source_port, payload):
        assert source.startswith("127."), "spoofed traffic stays on loopback"
        src = socket.inet_aton(source)
        udp_len = 8 + len(payload)
        udp = struct.pack("!HHHH", source_port, self.port, udp_len, 0) + payload  # checksum 0: none (IPv4)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0, src, self.target_bytes)
        while True:
            try:
                self.sock.sendto(ip + udp, (self.target, 0))
                return
            except (BlockingIOError, InterruptedError):
                time.sleep(0.0005)
            except OSError as e:  # ENOBUFS when the device queue is full: wait and send again
                if e.errno != 105:
                    raise
                time.sleep(0.0005)

    def close(self):
        self.sock.close()


def udp_socket(source=None, source_port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    if source is not None:
        s.bind((source, source_port))
    return s


def paced(count, rate, deadline):
    """Yields 0..count-1, no faster than RATE a second, and stops at DEADLINE (monotonic)."""
    start = time.monotonic()
    i = 0
    while i < count:
        now = time.monotonic()
        if now >= deadline:
            return
        due = min(count, int((now - start) * rate) + 1)
        if i >= due:
            time.sleep(min(0.002, max(0.0, deadline - now)))
            continue
        while i < due:
            yield i
            i += 1


# ---- Attack processes -----------------------------------------------------------------------

_mp = multiprocessing.get_context("spawn")


def _attack_entry(index, fn, args, results):
    try:
        os.nice(5)  # the receiver and the legit host's clock come first on a busy machine
    except OSError:
        pass
    try:
        results.put((index, fn(*args)))
    except BaseException as e:  # reported by the parent as a failed attack
        results.put((index, {"error": repr(e)}))


class Attacks:
    """Attack generators run in child processes; each returns a dict of what it sent."""

    def __init__(self):
        self.results = _mp.Queue()
        self.procs = []

    def start(self, fn, *args):
        p = _mp.Process(target=_attack_entry, args=(len(self.procs), fn, args, self.results), daemon=True)
        p.start()
        self.procs.append((fn.__name__, p))

    def join(self, timeout):
        """Waits for every attack (killing what is still running after TIMEOUT) and returns
        {name: what it sent}; an attack that died or hung reports an error."""
        deadline = time.monotonic() + timeout
        for _, p in self.procs:
            p.join(max(0.0, deadline - time.monotonic()))
        got = {}
        while len(got) < len(self.procs):
            try:
                index, value = self.results.get(timeout=0.5 if all(not p.is_alive() for _, p in self.procs) else 0.1)
            except Exception:
                break
            got[index] = value
        out = {}
        for index, (name, p) in enumerate(self.procs):
            if p.is_alive():
                p.kill()
                p.join(1)
            value = got.get(index, {"error": f"no result (the attack process ended with {p.exitcode})"})
            key, n = name, 2
            while key in out:
                key, n = f"{name}#{n}", n + 1
            out[key] = value
        self.procs = []
        return out


# ---- The session ----------------------------------------------------------------------------

def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)  # nearest rank
    return v[max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))]


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "FDSize", "Threads"):
                    out[key] = int(value.split()[0]) * (1024 if key.startswith("Vm") else 1)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return out


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def disk_usage(root):
    """(bytes of regular files, bytes allocated for everything, number of files)."""
    apparent = allocated = files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            allocated += st.st_blocks * 512
            if name in filenames:
                files += 1
                if (st.st_mode & 0o170000) == 0o100000:
                    apparent += st.st_size
    return apparent, allocated, files


def split_line(line):
    """A console.log line's columns: RECV_TIME, LEVEL, SEQ, KTIME, TEXT, FIELDS (may be '')."""
    cols = line.split("\t", 5)
    if len(cols) < 5:
        return None
    if len(cols) == 5:
        cols.append("")
    return cols


def field_value(fields, key):
    for kv in fields.split(" "):
        k, eq, v = kv.partition("=")
        if eq and k == key:
            return v
    return None


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, IsADirectoryError):
        return []
    return data.decode("utf-8", "surrogateescape").split("\n")[:-1] if data else []


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, MS_REC, MS_PRIVATE, MNT_DETACH, PR_SET_PDEATHSIG = 0x00020000, 0x4000, 1 << 18, 2, 1


def use_tmpfs():
    return os.environ.get("LASTGASP_HOSTILE_TMPFS", "1") != "0"


def private_mount_namespace():
    """Moves this process (before it starts any thread) into a mount namespace of its own, so that
    the tmpfs it mounts is seen by its children (the receiver) and goes away with them."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")


def mount_tmpfs(path):
    if _libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0, f"size={TMPFS_SIZE},mode=0700".encode()) != 0:
        raise OSError(ctypes.get_errno(), f"mount tmpfs on {path}")


def unmount(path):
    _libc.umount2(path.encode(), MNT_DETACH)


def describe_status(rc):
    """An exit status as Popen gives it, in words: negative is the signal that ended it."""
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name} (shell status {128 - rc})"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


def host_dir_name(address):
    return address.replace(":", "_")


class Failure(Exception):
    pass


class LegitHost:
    """The legitimate host: extended records, seq rising, a unique token in each; optionally
    fragmented with ncfrag as netconsole sends long records."""

    def __init__(self, session, rate=50.0, fragment_to=0):
        self.session = session
        self.rate = rate
        self.fragment_to = fragment_to  # >0: each record's text is this long, sent fragmented
        self.sock = udp_socket(LEGIT_ADDRESS, 0)
        self.source_port = self.sock.getsockname()[1]
        self.seq = 1000
        self.boot_usec = int(time.monotonic() * 1e6) - 5_000_000
        self.lock = threading.Lock()
        self.expected = {}  # seq -> (text, send time)
        self.order = []
        self.panic_seqs = []
        self.panic_seq = None
        self.stop_event = threading.Event()
        self.thread = None
        self.run_id = "%08x" % random.getrandbits(32)

    def _ts(self):
        return int(time.monotonic() * 1e6) - self.boot_usec

    def send(self, prio, text, fragmented=False):
        with self.lock:
            self.seq += 1
            seq = self.seq
            ts = self._ts()
            datagrams = ncfrag(prio, seq, ts, text) if fragmented else [ext(prio, seq, ts, text)]
            sent = time.monotonic()
            self.expected[seq] = (text, sent)
            self.order.append(seq)
        for d in datagrams:
            self.sock.sendto(d, (RECEIVER_ADDRESS, self.session.port))
        return seq

    def _token_text(self, seq_hint):
        token = f"legit-{self.run_id}-{seq_hint}"
        if self.fragment_to:
            head = f"hostile-suite {token} long record "
            return head + "x" * max(0, self.fragment_to - len(head) - 4) + " END", True
        return f"hostile-suite {token} steady record", False

    def _run(self):
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        give_up = next_at + 120  # bounded by itself, whatever the test does
        while not self.stop_event.is_set() and time.monotonic() < give_up:
            text, frag = self._token_text(self.seq + 1)
            self.send(6, text, frag)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                next_at = time.monotonic()

    def start(self):
        self.stop_event.clear()
        self.thread = threading.Thread(target=self._run, name="legit", daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        if self.thread:
            self.thread.join(2)

    def panic(self):
        """An oops that ends in a panic, as a real kernel writes it."""
        lines = [
            (1, "BUG: kernel NULL pointer dereference, address: 0000000000000008"),
            (1, "#PF: supervisor read access in kernel mode"),
            (1, "#PF: error_code(0x0000) - not-present page"),
            (4, "Oops: 0000 [#1] PREEMPT SMP NOPTI"),
            (4, "CPU: 1 PID: 4242 Comm: hostile-suite Not tainted 6.1.0-28-amd64 #1  Debian 6.1.119-1"),
            (4, "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"),
            (4, "RIP: 0010:hostile_probe+0x12/0x40 [hostile]"),
            (4, "Call Trace:"),
            (4, " <TASK>"),
            (4, " ? __die+0x23/0x70"),
            (4, " ? page_fault_oops+0x17d/0x4c0"),
            (4, " hostile_probe+0x12/0x40 [hostile]"),
            (4, " </TASK>"),
            (4, "---[ end trace 0000000000000000 ]---"),
            (0, f"Kernel panic - not syncing: Fatal exception in hostile-suite {self.run_id}"),
            (0, "Kernel Offset: disabled"),
        ]
        for prio, text in lines:
            seq = self.send(prio, text)
            self.panic_seqs.append(seq)
            if text.startswith("Kernel panic - not syncing"):
                self.panic_seq = seq
            time.sleep(0.001)


class Poller:
    """Reads the legit host's console.log as it grows and times each legit record."""

    def __init__(self, session, legit):
        self.session = session
        self.legit = legit
        self.path = os.path.join(session.log_dir, host_dir_name(LEGIT_ADDRESS), "console.log")
        self.seen = {}  # seq -> seen time (first time)
        self.mismatched = {}  # seq -> text seen, when it differs from what was sent
        self.stop_event = threading.Event()
        self.offset = 0
        self.partial = b""
        self.ino = None
        self.thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(2)

    def _poll_once(self):
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return
        try:
            st = os.fstat(fd)
            if self.ino is not None and (st.st_ino != self.ino or st.st_size < self.offset):
                self.offset, self.partial = 0, b""  # replaced or rotated: read the new file
            self.ino = st.st_ino
            if st.st_size <= self.offset:
                return
            data = os.pread(fd, st.st_size - self.offset, self.offset)
        finally:
            os.close(fd)
        now = time.monotonic()
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            cols = split_line(raw.decode("utf-8", "surrogateescape"))
            if not cols or cols[1] == "lastgasp" or not cols[2].isdigit():
                continue
            seq = int(cols[2])
            with self.legit.lock:
                want = self.legit.expected.get(seq)
            if want is None or seq in self.seen:
                continue
            self.seen[seq] = now
            if cols[4] != want[0]:
                self.mismatched[seq] = cols[4]

    def _run(self):
        while not self.stop_event.is_set():
            self._poll_once()
            time.sleep(POLL_INTERVAL)
        self._poll_once()

    def latencies(self):
        with self.legit.lock:
            expected = dict(self.legit.expected)
        return {seq: self.seen[seq] - sent for seq, (_, sent) in expected.items() if seq in self.seen}


class Monitor:
    """Samples the daemon's memory and life every 20 ms."""

    def __init__(self, session):
        self.session = session
        self.max_rss = 0
        self.hwm = 0
        self.samples = 0
        self.died = None  # (monotonic time, exit status) when it was found gone
        self.paused = False  # while the test restarts the daemon on purpose
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="monitor", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(2)

    def sample(self):
        proc = self.session.proc
        if proc is None or self.paused:
            return
        if self.died is None and (proc.poll() is not None or not os.path.exists(f"/proc/{proc.pid}")):
            if not self.paused:  # a restart on purpose may have begun since the check above
                self.died = (time.monotonic(), proc.returncode)
            return
        st = proc_status(proc.pid)
        if st:
            self.samples += 1
            self.max_rss = max(self.max_rss, st.get("VmRSS", 0))
            self.hwm = max(self.hwm, st.get("VmHWM", 0))

    def rss(self):
        st = proc_status(self.session.proc.pid) if self.session.proc else None
        return st.get("VmRSS", 0) if st else 0

    def _run(self):
        while not self.stop_event.is_set():
            self.sample()
            time.sleep(0.02)


class Session:
    """One receiver under attack, the legit host, the poller and the monitor, and the checks."""

    def __init__(self, name, binary, config="", nofile=None, legit_rate=50.0, legit_fragment_to=0):
        self.name = name
        self.binary = binary
        self.extra_config = config
        self.nofile = nofile
        self.tmp = tempfile.mkdtemp(prefix=f"lastgasp-hostile-{name}-")
        self.tmpfs = use_tmpfs()
        if self.tmpfs:
            mount_tmpfs(self.tmp)
        self.log_dir = os.path.join(self.tmp, "logs")
        os.makedirs(self.log_dir)
        self.config_path = os.path.join(self.tmp, "receiver.toml")
        self.output_path = os.path.join(self.tmp, "receiver.out")
        self.port = free_port()
        self.proc = None
        self.failures = []
        self.figures = {}
        self.started_at = None
        self.rss_baseline = None
        self.legit = LegitHost(self, legit_rate, legit_fragment_to)
        self.poller = Poller(self, self.legit)
        self.monitor = Monitor(self)
        self.stopped = False
        self.write_config()

    # -- the receiver --

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write("# written by tests/hostile/harness.py: defaults unless the attack needs otherwise\n")
            f.write(f'listen = ["{RECEIVER_ADDRESS}:{self.port}"]\n')
            f.write(f'log_dir = "{self.log_dir}"\n')
            f.write('http_listen = ""  # 127.0.0.1:9666 is one port for every test\n')
            f.write(self.extra_config)

    def _preexec(self):
        os.setsid()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlives a harness killed by a timeout
        if self.nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)

    def start_receiver(self, ready_timeout=10.0):
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC",
                            "WATCHDOG_PID")}
        out = open(self.output_path, "ab")
        self.ready_offset = out.tell()
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=self._preexec)
        out.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if "listening on" in self.output()[self.ready_offset:]:
                self.stopped = False
                self.started_at = time.monotonic()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        raise Failure(f"the receiver did not start (exit {self.proc.poll()}):\n{self.output_tail()}")

    def stop_receiver(self):
        """SIGTERM; returns (exit status, seconds to exit). Kills it after STOP_MAX."""
        if self.stopped:
            return self.proc.returncode, 0.0
        self.stopped = True
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_MAX)
            return rc, time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None, time.monotonic() - t0

    def output(self):
        try:
            with open(self.output_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def output_tail(self, lines=40):
        return "\n".join(self.output().splitlines()[-lines:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and os.path.exists(f"/proc/{self.proc.pid}")

    # -- checks --

    def check(self, condition, message):
        if not condition:
            self.failures.append(message)
            log("FAIL: " + message)
        return condition

    def figure(self, key, value):
        self.figures[key] = value

    def host_dir(self, address):
        return os.path.join(self.log_dir, host_dir_name(address))

    def host_dirs(self):
        try:
            return [d for d in os.listdir(self.log_dir) if os.path.isdir(os.path.join(self.log_dir, d))]
        except FileNotFoundError:
            return []

    def wait_for(self, predicate, timeout, interval=0.005):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()

    # -- the run --

    def begin(self, warmup=1.0):
        """Starts the receiver, the monitor, the poller and the legit host; after WARMUP seconds
        of legit traffic, notes the baseline RSS."""
        self.start_receiver()
        self.monitor.start()
        self.poller.start()
        self.legit.start()
        time.sleep(warmup)
        self.rss_baseline = self.monitor.rss()
        self.figure("rss_baseline_mib", round(self.rss_baseline / MIB, 1))
        log(f"receiver pid {self.proc.pid} on {RECEIVER_ADDRESS}:{self.port}, logs in {self.log_dir}, "
            f"RSS {self.rss_baseline / MIB:.1f} MiB after warmup")

    def restart(self):
        """Stops the daemon with SIGTERM (checked like the final stop) and starts it again on the
        same port and log dir; the legit host pauses meanwhile, since UDP sent to a closed port is
        gone."""
        self.legit.stop()
        self.wait_for(lambda: all(s in self.poller.seen for s in self.legit.order), 1.0)
        self.monitor.paused = True
        time.sleep(0.05)  # let a sample under way finish
        rc, seconds = self.stop_receiver()
        self.check(rc == 0, f"restart: SIGTERM: {describe_status(rc)} (want exit 0)")
        self.check(seconds <= STOP_MAX, f"restart: exit took {seconds:.2f} s (max {STOP_MAX} s)")
        self.start_receiver()
        self.monitor.paused = False
        self.legit.start()

    def rss_now(self):
        self.monitor.sample()
        return self.monitor.rss()

    def end(self, settle=1.0, disk_bound=None, dirs_bound=None, extra_checks=None):
        """Legit traffic for SETTLE more seconds, then the oops and panic; then every check."""
        time.sleep(settle)
        self.legit.stop()
        self.legit.panic()
        panic_seq = self.legit.panic_seq
        self.wait_for(lambda: all(s in self.poller.seen for s in self.legit.panic_seqs), PANIC_WAIT)
        time.sleep(0.1)  # the incident file follows its panic line
        self.monitor.sample()
        status = proc_status(self.proc.pid) if self.alive() else None
        if status:
            self.monitor.hwm = max(self.monitor.hwm, status.get("VmHWM", 0))
        alive_before_stop = self.alive()
        if extra_checks:
            extra_checks()
        self.monitor.stop()  # before SIGTERM: the exit it causes is no death during the attack
        rc, stop_seconds = self.stop_receiver()
        self.poller.stop()

        # Life.
        died = self.monitor.died
        self.check(died is None and alive_before_stop,
                   f"the daemon died during the attack ({describe_status(died[1] if died else self.proc.returncode)}, "
                   f"{(died[0] - self.started_at) if died else 0:.2f} s after start)")
        self.check(rc == 0, f"SIGTERM: {describe_status(rc)} (want exit 0)")
        self.check(stop_seconds <= STOP_MAX, f"SIGTERM: exit took {stop_seconds:.2f} s (max {STOP_MAX} s)")
        self.figure("exit_status", rc)
        self.figure("stop_seconds", round(stop_seconds, 3))

        # The legit host's records: there, in order, once, whole, and in time.
        lat = self.poller.latencies()
        expected = self.legit.order
        missing = [s for s in expected if s not in lat]
        values = [lat[s] for s in expected if s in lat]
        p50, p99 = percentile(values, 50), percentile(values, 99)
        worst = max(values) if values else float("nan")
        self.figure("legit_records", len(expected))
        self.figure("legit_missing_live", len(missing))
        self.figure("latency_ms", {"p50": round(p50 * 1e3, 1), "p99": round(p99 * 1e3, 1),
                                   "max": round(worst * 1e3, 1)})
        slow = sorted(((lat[s], s) for s in lat), reverse=True)[:5]
        self.figure("slowest_ms", [(s, round(t * 1e3, 1)) for t, s in slow])
        self.check(p99 <= LATENCY_P99_MAX, f"legit latency p99 {p99 * 1e3:.1f} ms (max {LATENCY_P99_MAX * 1e3:.0f} ms)")
        self.check(worst <= LATENCY_MAX, f"legit latency max {worst * 1e3:.1f} ms (max {LATENCY_MAX * 1e3:.0f} ms)")
        if panic_seq in lat:
            self.figure("panic_latency_ms", round(lat[panic_seq] * 1e3, 1))

        lines = read_lines(self.poller.path)
        legit_seqs, texts, lost_lines, panic_notes = [], {}, [], 0
        for line in lines:
            cols = split_line(line)
            if cols is None:
                continue
            if cols[1] == "lastgasp":
                if cols[4].startswith("lastgasp: lost"):
                    lost_lines.append(cols[4])
                if cols[4].startswith("lastgasp: panic") and "Fatal exception in hostile-suite" in cols[4]:
                    panic_notes += 1
                continue
            if cols[2].isdigit() and int(cols[2]) in self.legit.expected:
                legit_seqs.append(int(cols[2]))
                texts.setdefault(int(cols[2]), cols[4])
        on_disk_missing = [s for s in expected if s not in texts]
        dups = len(legit_seqs) - len(set(legit_seqs))
        in_order = legit_seqs == sorted(legit_seqs)
        wrong = [s for s in expected if s in texts and texts[s] != self.legit.expected[s][0]]
        self.figure("legit_missing_on_disk", len(on_disk_missing))
        self.check(not on_disk_missing, f"{len(on_disk_missing)} of {len(expected)} legit records not in console.log "
                                        f"(first missing seq {on_disk_missing[:5]})")
        self.check(dups == 0, f"{dups} legit records written more than once")
        self.check(in_order, "legit records out of order in console.log")
        self.check(not wrong, f"{len(wrong)} legit records not whole (seq {wrong[:3]}: "
                              f"{texts[wrong[0]][-80:] if wrong else ''!r})")
        self.check(not lost_lines, f"gap lines in the legit host's log: {lost_lines[:3]}")
        self.check(panic_seq in texts, "the legit host's `Kernel panic - not syncing` line is not in its console.log")
        self.check(panic_notes >= 1, "no `lastgasp: panic` line for the legit host's panic")
        incidents = os.path.join(self.host_dir(LEGIT_ADDRESS), "incidents")
        panic_in_incident = False
        if os.path.isdir(incidents):
            for name in os.listdir(incidents):
                for line in read_lines(os.path.join(incidents, name)):
                    cols = split_line(line)
                    if cols and cols[2] == str(panic_seq):
                        panic_in_incident = True
        self.check(panic_in_incident, "no incident file of the legit host holds its panic line")

        # Memory.
        hwm = max(self.monitor.hwm, self.monitor.max_rss)
        self.figure("rss_max_mib", round(self.monitor.max_rss / MIB, 1))
        self.figure("vmhwm_mib", round(self.monitor.hwm / MIB, 1))
        self.figure("rss_samples", self.monitor.samples)
        self.check(hwm <= RSS_MAX, f"RSS peak {hwm / MIB:.1f} MiB (max {RSS_MAX / MIB:.0f} MiB)")

        # Disk.
        apparent, allocated, files = disk_usage(self.log_dir)
        dirs = self.host_dirs()
        self.figure("disk_bytes", apparent)
        self.figure("disk_allocated_bytes", allocated)
        self.figure("files", files)
        self.figure("host_dirs", len(dirs))
        if disk_bound is not None:
            self.figure("disk_bound", disk_bound)
            self.check(apparent <= disk_bound, f"{apparent:,} bytes under LOG_DIR (bound {disk_bound:,})")
        if dirs_bound is not None:
            self.figure("dirs_bound", dirs_bound)
            self.check(len(dirs) <= dirs_bound, f"{len(dirs):,} host directories under LOG_DIR (bound {dirs_bound:,})")

    def report(self):
        print("FIGURES " + self.name)
        for key, value in self.figures.items():
            print(f"  {key}: {value}")
        if self.failures:
            print("FAILED " + self.name)
            for f in self.failures:
                print("  - " + f)
            print("receiver output (tail):")
            print(self.output_tail())
        else:
            print("PASSED " + self.name)

    def cleanup(self):
        for part in (self.legit, self.poller, self.monitor):
            try:
                part.stop()
            except Exception:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if os.environ.get("LASTGASP_HOSTILE_KEEP"):
            log(f"kept {self.tmp}" + (" (a tmpfs: gone when this process ends)" if self.tmpfs else ""))
        elif self.tmpfs:
            unmount(self.tmp)
            os.rmdir(self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run(test, binary):
    """Runs one attack test; returns the process exit status."""
    name = test.__name__.removeprefix("test_")
    session = None

    def factory(**kwargs):
        nonlocal session
        session = Session(name, binary, **kwargs)
        return session

    if use_tmpfs():
        private_mount_namespace()
    t0 = time.monotonic()
    try:
        test(factory)
    except Failure as e:
        if session:
            session.failures.append(str(e))
        else:
            print(f"FAILED {name}: {e}")
            return 1
    except Exception:
        import traceback
        traceback.print_exc()
        if session:
            session.failures.append("the test itself raised (see the traceback above)")
        else:
            return 1
    finally:
        if session:
            session.figure("test_seconds", round(time.monotonic() - t0, 1))
            session.report()
            session.cleanup()
    return 1 if session is None or session.failures else 0
