#!/usr/bin/env python3
"""What lastgasp-receiver.service assumes of the daemon, checked without systemd.

Plays PID 1's part as the units set it up: opens the sockets of
lastgasp-receiver.socket (UDP and TCP on one port, an 8 MiB receive buffer set
with SO_RCVBUFFORCE), and starts the daemon the way the service does: in a
network namespace of its own (PrivateNetwork=yes), as an unprivileged user
with no capabilities and no new privileges, with LISTEN_FDS, NOTIFY_SOCKET and
WATCHDOG_USEC. Then checks: READY=1, STATUS=, WATCHDOG=1, records on disk
group-readable, the passed buffer left at 8 MiB, SIGHUP -> RELOADING=1 with
MONOTONIC_USEC then READY=1, SIGTERM -> exit 0.

usage: activation.py RECEIVER_BIN CAPTURE WORK_DIR     (as root: ctest label root)
"""
import ast
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

BUFFER = 8 * 1024 * 1024
NOBODY = 65534
WATCHDOG_USEC = 2_000_000


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


class Notifications:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)
        self.sock.settimeout(0.2)
        self.seen = []
        self.cursor = 0  # each wait looks only at what came after the last match

    def pump(self):
        try:
            while True:
                data = self.sock.recv(4096).decode("utf-8", "replace")
                self.seen.append((time.monotonic(), data))
        except (socket.timeout, BlockingIOError):
            pass

    def wait_for(self, predicate, timeout, what, proc):
        deadline = time.monotonic() + timeout
        start = self.cursor
        while time.monotonic() < deadline:
            self.pump()
            for i in range(start, len(self.seen)):
                if predicate(self.seen[i][1]):
                    self.cursor = i + 1
                    return self.seen[i][1]
            if proc.poll() is not None:
                fail(f"the daemon exited ({proc.returncode}) while waiting for {what}")
        fail(f"no {what} within {timeout} s; got {[m for _, m in self.seen[start:]]}")


def lines_of(message):
    return message.split("\n")


def main():
    binary, capture, work = (os.path.abspath(a) for a in sys.argv[1:4])
    if os.geteuid() != 0:
        fail("needs root, to set SO_RCVBUFFORCE and make a network namespace as PID 1 would "
             "(ctest label root; ctest -LE root leaves it out)")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chmod(work, 0o755)
    log_dir = os.path.join(work, "log")
    os.makedirs(log_dir)
    os.chown(log_dir, NOBODY, NOBODY)
    os.chmod(log_dir, 0o750)
    config = os.path.join(work, "receiver.toml")
    with open(config, "w") as f:
        f.write("# every key at its default\n")
    os.chmod(config, 0o644)

    # lastgasp-receiver.socket: ListenDatagram= and ListenStream= on one port, ReceiveBuffer=8M.
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
            break
        except OSError:
            udp.close()
            tcp.close()
    else:
        fail("no port free for both UDP and TCP")
    tcp.listen(16)
    SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
    udp.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, BUFFER)
    buffer_before = udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    notify = Notifications(os.path.join(work, "notify"))
    fds = (udp.fileno(), tcp.fileno())

    def as_pid1_hands_over():
        # The passed sockets at 3 and 4, as sd_listen_fds expects them.
        high = [os.dup(fd) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)
            os.close(fd)

    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": notify.sock.getsockname(),
           "LISTEN_FDS": "2", "LISTEN_FDNAMES": "lastgasp-receiver.socket:lastgasp-receiver.socket",
           "WATCHDOG_USEC": str(WATCHDOG_USEC), "LANG": "C.UTF-8"}
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    # PrivateNetwork=yes, User=, CapabilityBoundingSet=, NoNewPrivileges=yes.
    # LISTEN_PID and WATCHDOG_PID name the daemon: sh's own pid, which exec keeps.
    cmd = ["unshare", "--net", "--",
           "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
           "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
           "sh", "-c", 'LISTEN_PID=$$ WATCHDOG_PID=$$ exec "$@"', "sh",
           binary, "--config", config, "--log-dir", log_dir]
    print("+ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, env=env, preexec_fn=as_pid1_hands_over, pass_fds=(3, 4),
                            stdin=subprocess.DEVNULL, cwd="/")
    try:
        notify.wait_for(lambda m: "READY=1" in lines_of(m), 20, "READY=1", proc)
        print("ok: READY=1")
        notify.wait_for(lambda m: any(l.startswith("STATUS=") for l in lines_of(m)), 10, "STATUS=", proc)
        print("ok: STATUS=")

        buffer_after = udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if buffer_after < buffer_before:
            fail(f"the daemon shrank the passed socket's receive buffer from {buffer_before // 2} to "
                 f"{buffer_after // 2} bytes (SO_RCVBUF without CAP_NET_ADMIN is capped by "
                 f"net.core.rmem_max): it must leave a passed socket's buffer alone, or only grow it")
        print(f"ok: receive buffer still {buffer_after // 2} bytes")

        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with open(capture, encoding="utf-8") as f:
            for line in f:
                fields = line.split(None, 2)
                if len(fields) == 3 and fields[2].startswith("b"):
                    sender.sendto(ast.literal_eval(fields[2].strip()), ("127.0.0.1", port))
                    time.sleep(0.001)
        console = os.path.join(log_dir, "127.0.0.1", "console.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (os.path.exists(console) and os.path.getsize(console) > 0):
            notify.pump()
        if not os.path.exists(console):
            fail(f"no {console}: the daemon did not take the datagrams from the passed socket")
        with open(console) as f:
            if "Kernel panic - not syncing" not in f.read():
                fail("the panic line is not in console.log")
        print("ok: the capture's records are on disk, through the passed UDP socket")
        # Readable by the lastgasp group (LogsDirectoryMode=0750, files 0640): tail works for operators.
        for path in (os.path.dirname(console), console):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if not mode & stat.S_IRGRP:
                fail(f"{path} is {oct(mode)}: not group-readable")
        print("ok: group-readable")

        notify.wait_for(lambda m: "WATCHDOG=1" in lines_of(m), 3 * WATCHDOG_USEC / 1e6, "WATCHDOG=1", proc)
        print("ok: WATCHDOG=1")

        # TCP: the stream socket is passed too; a connection must at least be accepted by the kernel.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass

        proc.send_signal(signal.SIGHUP)
        reloading = notify.wait_for(lambda m: "RELOADING=1" in lines_of(m), 10, "RELOADING=1", proc)
        if not any(l.startswith("MONOTONIC_USEC=") for l in lines_of(reloading)):
            fail(f"RELOADING=1 without MONOTONIC_USEC: {reloading!r}")
        notify.wait_for(lambda m: "READY=1" in lines_of(m), 10, "READY=1 after the reload", proc)
        print("ok: SIGHUP -> RELOADING=1 + MONOTONIC_USEC, then READY=1")

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            fail("no exit within 30 s of SIGTERM (TimeoutStopSec=30s)")
        if rc != 0:
            fail(f"exit {rc} on SIGTERM, expected 0")
        print("ok: SIGTERM -> exit 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
