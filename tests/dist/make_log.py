#!/usr/bin/env python3
"""Produce a real receiver log: run the receiver on a loopback port, send it the
payloads of a netconsole capture, stop it with SIGTERM, print the log's path.

usage: make_log.py RECEIVER_BIN CAPTURE OUT_DIR
"""
import ast
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ports import free_port  # noqa: E402  (tests/support: one of it)


def wait_for_line(proc, wanted, timeout=20.0):
    """Reads the receiver's stderr until WANTED; it says "listening on" once each socket is bound."""
    seen = []
    too_late = threading.Timer(timeout, proc.kill)  # then stderr ends, and so does the loop
    too_late.start()
    for line in proc.stderr:
        seen.append(line)
        if wanted in line:
            too_late.cancel()
            # Keep its stderr drained for the rest of the run, as a terminal would.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return
    proc.kill()
    sys.exit(f"the receiver never said '{wanted}':\n{''.join(seen)}")


def wait_for_datagrams(http_port, count, timeout=20.0):
    """Polls /metrics until the receiver has counted COUNT datagrams."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("lastgasp_datagrams_total "):
                    got = int(float(line.split()[1]))
        if got == count:
            return
        time.sleep(0.05)
    sys.exit(f"the receiver counted {got} datagrams of {count} sent")


def main():
    binary, capture, out_dir = sys.argv[1:4]
    log_dir = os.path.join(out_dir, "log")
    subprocess.run(["rm", "-rf", log_dir], check=True)
    os.makedirs(log_dir)
    payloads = []
    with open(capture, encoding="utf-8") as f:
        for line in f:
            fields = line.split(None, 2)
            if len(fields) == 3 and fields[2].startswith("b"):
                payloads.append(ast.literal_eval(fields[2].strip()))
    port, http_port = free_port(), free_port()
    # An empty config: the machine's /etc/lastgasp/receiver.toml must not change what is made.
    proc = subprocess.Popen([binary, "--config", "/dev/null", "--listen", f"127.0.0.1:{port}",
                             "--http", f"127.0.0.1:{http_port}", "--log-dir", log_dir],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_line(proc, f"listening on http 127.0.0.1:{http_port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for payload in payloads:
        sock.sendto(payload, ("127.0.0.1", port))
        time.sleep(0.001)  # a netconsole's pace, not a flood
    # SIGTERM writes everything received: wait until every datagram is.
    wait_for_datagrams(http_port, len(payloads))
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit("receiver did not exit on SIGTERM")
    if rc != 0:
        # Not this test's business (the integration suite owns SIGTERM), but say so.
        print(f"warning: receiver exited {rc} on SIGTERM, expected 0", file=sys.stderr)
    logs = []
    for root, _, files in os.walk(log_dir):
        logs += [os.path.join(root, name) for name in files if name.endswith(".log")]
    if not logs:
        sys.exit("the receiver wrote no log")
    print("\n".join(sorted(logs)))


if __name__ == "__main__":
    main()
