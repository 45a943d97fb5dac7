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
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ports import free_port  # noqa: E402  (tests/support: one of it)


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
    for attempt in range(5):
        port = free_port()
        proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--log-dir", log_dir],
                                stdin=subprocess.DEVNULL)
        time.sleep(0.5 + attempt * 0.5)
        if proc.poll() is None:
            break
    else:
        sys.exit(f"{binary} did not stay up")
    # A private config file might have set other defaults: the flags above win.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for payload in payloads:
        sock.sendto(payload, ("127.0.0.1", port))
        time.sleep(0.001)
    time.sleep(0.5)
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
