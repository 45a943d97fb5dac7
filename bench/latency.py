#!/usr/bin/env python3
"""Wall-clock latency of lastgasp-receiver, measured end to end on loopback.

  bench/latency.py [BUILD_DIR]        (default: build)

For each record, the time from sendto() to:
  - readable: its line is in LOG_DIR/<host>/console.log (written to the page
              cache, visible to readers; not yet durable);
  - screen:   `lastgasp-receiver tail -f` has printed it;
in three cases: records in order; the record just after a lost one (held for
the reorder window, then released by the timer with no further packet); and
the same in-order records through a bare Python receiver that writes each
datagram to a file at once, the floor of this machine and this measurement,
run in the same process so noise hits both. Budgets: readable 250 ms, screen 300 ms.

Durable, where the receiver promises it: a panic line is fsynced, with its
incident file and the file's directory entry. A receiver run under strace
(only the sync calls stop) gives, for one panic from each of PANIC_HOSTS
hosts, the time from sendto() to the return of the first fdatasync/fsync of
that host's console.log, of its incidents/ file and of its incidents/
directory that began after the line was readable (or a syncfs, which covers
them all). Budget: 1 s. The log directory's filesystem is the machine's.
Every loop is bounded; traffic goes to 127.0.0.0/8 only.
"""
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
from ports import free_port  # noqa: E402  (tests/support: one of it)

ROUNDS = 150
SPACING = 0.02  # seconds between records
BUDGET_DISK_MS = 250
BUDGET_SCREEN_MS = 300
BUDGET_DURABLE_MS = 1000
PANIC_HOSTS = 40  # 127.0.1.1 on; one panic each (a host's incidents are rate-limited)


def record(seq, text):
    return f"6,{seq},{seq * 1000},-;{text}\n".encode()


class FileWatcher:
    """Reads a growing file and notes when each marker first appears."""

    def __init__(self, path):
        self.path, self.offset, self.seen, self.partial = path, 0, {}, b""

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        now = time.monotonic()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            for word in line.replace(b";", b" ").split():
                if word.startswith(b"mark-") and word not in self.seen:
                    self.seen[word] = now


class StreamWatcher(threading.Thread):
    """Notes when each marker is printed on a subprocess's stdout."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.seen = stream, {}

    def run(self):
        for line in self.stream:
            now = time.monotonic()
            for word in line.replace(b'"', b" ").split():
                if word.startswith(b"mark-") and word not in self.seen:
                    self.seen[word] = now


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return predicate()


def measure(sock, port, watchers, first_seq, gap):
    """Sends ROUNDS records; returns {watcher index: [latency ms]}."""
    results = {i: [] for i in range(len(watchers))}
    seq = first_seq
    for n in range(ROUNDS):
        seq += 2 if gap else 1  # with a gap, the seq before each record never comes
        marker = f"mark-{'gap' if gap else 'seq'}-{n}-{seq}".encode()
        sent = time.monotonic()
        sock.sendto(record(seq, marker.decode()), ("127.0.0.1", port))

        def arrived():
            for w in watchers:
                if isinstance(w, FileWatcher):
                    w.poll()
            return all(marker in w.seen for w in watchers)

        wait_for(arrived, 2.0)
        for i, w in enumerate(watchers):
            if marker in w.seen:
                results[i].append((w.seen[marker] - sent) * 1000)
        time.sleep(SPACING)
    return results, seq


def udp_port_bound(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def wait_until_following(sock, port, screen, seq):
    """Sends records until `tail -f` prints one: it may start after the first ones
    were written, and -n 0 skips those. Returns the last seq sent."""
    for n in range(100):  # 5 s
        seq += 1
        sock.sendto(record(seq, f"mark-ready-{n}"), ("127.0.0.1", port))
        if wait_for(lambda: any(w.startswith(b"mark-ready-") for w in screen.seen), 0.05):
            return seq
    raise SystemExit("latency.py: tail -f printed none of the records sent to it")


def summary(name, values, budget=None):
    if not values:
        return f"{name:44s} no samples"
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    line = f"{name:44s} n={len(values):3d}  p50 {statistics.median(values):7.2f} ms  p99 {p99:7.2f} ms  max {values[-1]:7.2f} ms"
    if budget:
        line += f"  max/budget {values[-1] / budget:.2f}"
    return line


def bare_receiver(s, path, stop):
    with s, open(path, "ab", buffering=0) as out:
        while not stop.is_set():
            if select.select([s], [], [], 0.1)[0]:
                out.write(s.recv(65536))


SYNC_CALL = re.compile(r"^\d+\s+(\d+\.\d+) (fdatasync|fsync|syncfs)\(\d+<([^>]*)>\) = 0 <(\d+\.\d+)>$")


def sync_returns(strace_log):
    """[(wall time the call returned, call, path)] from `strace -f -ttt -T -y`."""
    calls = []
    with open(strace_log) as f:
        for line in f:
            m = SYNC_CALL.match(line.strip())
            if m:
                calls.append((float(m.group(1)) + float(m.group(4)), float(m.group(1)), m.group(2), m.group(3)))
    return calls


def first_sync(calls, readable_at, path_test):
    """When the first sync of a matching path (or a syncfs) that began after READABLE_AT returned."""
    done = [ret for ret, began, call, path in calls
            if began >= readable_at and (call == "syncfs" or path_test(path))]
    return min(done, default=None)


def measure_durable(binary, tmp, port):
    """Sends one panic from each of PANIC_HOSTS hosts to a receiver under strace;
    returns {"console.log": [ms], "incident file": [ms], "incidents/ entry": [ms]}."""
    logs = os.path.join(tmp, "durable-logs")
    config = os.path.join(tmp, "durable.toml")
    open(config, "w").close()
    strace_log = os.path.join(tmp, "strace.log")
    rx = subprocess.Popen(["strace", "-f", "-qq", "--seccomp-bpf", "-ttt", "-T", "-y", "-o", strace_log,
                           "-e", "trace=fdatasync,fsync,syncfs", binary, "--http", "", "--config", config,
                           "--listen", f"127.0.0.1:{port}", "--log-dir", logs], stderr=subprocess.DEVNULL)
    sent = {}
    readable = {}
    try:
        if not wait_for(lambda: udp_port_bound(port), 10):
            raise SystemExit("latency.py: the receiver under strace never bound its port")
        hosts = [f"127.0.1.{i}" for i in range(1, PANIC_HOSTS + 1)]
        socks = {}
        for host in hosts:
            socks[host] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks[host].bind((host, 0))
        for host in hosts:  # a stream's first record waits out its window: not what is measured
            socks[host].sendto(record(1, "warm-up"), ("127.0.0.1", port))
        for host in hosts:
            if not wait_for(lambda: os.path.exists(os.path.join(logs, host, "console.log")), 10):
                raise SystemExit(f"latency.py: {host}'s console.log never appeared")
        for host in hosts:
            watcher = FileWatcher(os.path.join(logs, host, "console.log"))
            watcher.poll()
            marker = f"mark-panic-{host}".encode()
            sent[host] = time.time()
            socks[host].sendto(record(2, f"Kernel panic - not syncing: {marker.decode()}"), ("127.0.0.1", port))
            if wait_for(lambda: (watcher.poll(), marker in watcher.seen)[1], 2.0):
                readable[host] = time.time()
            time.sleep(SPACING * 5)
        for s in socks.values():
            s.close()
    finally:
        # SIGTERM to strace would only detach it: stop the receiver, whose sync worker syncs what
        # is still queued before it exits, and strace ends with it.
        with open(f"/proc/{rx.pid}/task/{rx.pid}/children") as f:
            for child in f.read().split():
                os.kill(int(child), signal.SIGTERM)
        rx.wait(10)
    calls = sync_returns(strace_log)
    out = {"console.log": [], "incident file": [], "incidents/ entry": []}
    tests = {"console.log": lambda host: lambda p: p.endswith(f"/{host}/console.log"),
             "incident file": lambda host: lambda p: f"/{host}/incidents/" in p,
             "incidents/ entry": lambda host: lambda p: p.endswith(f"/{host}/incidents")}
    for host, at in readable.items():
        for name, test in tests.items():
            # began after the line was sent: a sync that began before it cannot cover it
            done = first_sync(calls, sent[host], test(host))
            if done is not None:
                out[name].append((done - sent[host]) * 1000)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    binary = os.path.join(build, "receiver", "lastgasp-receiver")
    with tempfile.TemporaryDirectory(prefix="lastgasp-latency-") as tmp:
        logs = os.path.join(tmp, "logs")
        config = os.path.join(tmp, "rx.toml")
        open(config, "w").close()
        port = free_port()
        rx = subprocess.Popen([binary, "--http", "", "--config", config, "--listen", f"127.0.0.1:{port}", "--log-dir", logs],
                              stderr=subprocess.DEVNULL)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        try:
            if not wait_for(lambda: udp_port_bound(port), 5):
                raise SystemExit("latency.py: the receiver never bound its port")
            log = os.path.join(logs, "127.0.0.1", "console.log")
            disk = FileWatcher(log)
            sock.sendto(record(1, "mark-warmup"), ("127.0.0.1", port))  # a stream's first record waits its window
            if not wait_for(lambda: (disk.poll(), b"mark-warmup" in disk.seen)[1], 5):
                raise SystemExit("latency.py: the warm-up record never reached console.log")
            tail = subprocess.Popen([binary, "tail", "-f", "-n", "0", "--log-dir", logs, "-o", "json"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            screen = StreamWatcher(tail.stdout)
            screen.start()
            seq = wait_until_following(sock, port, screen, 1)
            in_order, seq = measure(sock, port, [disk, screen], seq, gap=False)
            behind_gap, _ = measure(sock, port, [disk, screen], seq, gap=True)
            tail.terminate()
            tail.wait(5)
        finally:
            rx.terminate()
            rx.wait(5)

        durable = measure_durable(binary, tmp, free_port())

        bare_port = free_port()
        bare_file = os.path.join(tmp, "bare.log")
        stop = threading.Event()
        bare_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        bare_sock.bind(("127.0.0.1", bare_port))  # bound before the first send: nothing to wait for
        bare = threading.Thread(target=bare_receiver, args=(bare_sock, bare_file, stop), daemon=True)
        bare.start()
        baseline, _ = measure(sock, bare_port, [FileWatcher(bare_file)], 1, gap=False)
        stop.set()
        bare.join(2)

    print(f"lastgasp latency, {ROUNDS} records per case, {SPACING * 1000:.0f} ms apart, loopback")
    print(summary("baseline: bare receiver, send -> file", baseline[0]))
    print(summary("lastgasp in order, send -> readable", in_order[0], BUDGET_DISK_MS))
    print(summary("lastgasp in order, send -> tail -f", in_order[1], BUDGET_SCREEN_MS))
    print(summary("lastgasp behind a lost record, send -> readable", behind_gap[0], BUDGET_DISK_MS))
    print(summary("lastgasp behind a lost record, send -> tail", behind_gap[1], BUDGET_SCREEN_MS))
    for name, values in durable.items():
        print(summary(f"panic, send -> {name} durable", values, BUDGET_DURABLE_MS))
    worst_disk = max(in_order[0] + behind_gap[0], default=float("inf"))
    worst_durable = max(sum(durable.values(), []), default=float("inf"))
    worst_screen = max(in_order[1], default=float("inf"))
    complete = all(len(v) == ROUNDS for v in (in_order[0], in_order[1], behind_gap[0], behind_gap[1]))
    durable_complete = all(len(v) == PANIC_HOSTS for v in durable.values())
    ok = (complete and durable_complete and worst_disk <= BUDGET_DISK_MS and worst_screen <= BUDGET_SCREEN_MS
          and worst_durable <= BUDGET_DURABLE_MS)
    print(f"VERDICT {'PASS' if ok else 'FAIL'} every record readable in its file within {BUDGET_DISK_MS} ms "
          f"(worst {worst_disk:.1f} ms), in order on screen within {BUDGET_SCREEN_MS} ms (worst {worst_screen:.1f} ms), "
          f"a panic durable with its incident file within {BUDGET_DURABLE_MS} ms (worst {worst_durable:.1f} ms)"
          + ("" if complete else ", SOME RECORDS NEVER ARRIVED")
          + ("" if durable_complete else ", SOME PANICS NEVER MADE DURABLE"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
