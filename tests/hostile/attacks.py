#!/usr/bin/env python3
"""lastgasp's attack suite (issue #8): one test per attack on the real lastgasp-receiver.

    attacks.py RECEIVER_BINARY TEST_NAME      run one test (ctest runs each as its own test)
    attacks.py RECEIVER_BINARY --list         the test names

Each test starts the receiver through harness.Session, runs the legitimate host for the whole
test, attacks from other 127.0.0.0/8 addresses, and then checks, besides what the harness checks
for every test (daemon alive; legit records on disk within 250 ms, in order, once, with the panic
and its incident; RSS <= 256 MiB; clean SIGTERM within 2 s), what the attack itself must not
achieve. Every bound is a named constant below or in harness.py, with where it comes from.
"""

import json
import os
import random
import resource
import socket
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # ctest runs this from the source tree: leave no __pycache__ there
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (LEGIT_HOST_BYTES, MIB, NEW_HOSTS_BURST, NEW_HOSTS_PER_SECOND, RECEIVER_ADDRESS,  # noqa: E402
                     SMALL_HOST_BYTES, Attacks, Spoofer, ext, field_value, log, ncfrag, paced, read_lines,
                     split_line, udp_socket)

# ---- Bounds of particular attacks -----------------------------------------------------------

# Issue #8 finding 3: "rate-limit incidents per host, cap their size and count". The defaults
# being written for it are a burst of 5 incident files per host and one more a minute; an
# operator reading one host's incidents must not find 100 copies of one attack. We allow 10.
INCIDENT_FILES_PER_HOST_MAX = 10
# Issue #8 finding 5: +30 MB for 20,000 source ports of one address today; streams per host must
# be bounded (the default being written is 64). What the 20,000 ports may add to the RSS:
STREAMS_RSS_GROWTH_MAX = 8 * MIB
# Issue #8 finding 6: a header-only upload must not commit its declared size (64 x 4 MiB headers
# made +165 MB). Memory for uploads is to be counted as bytes arrive; 64 headers carry no body,
# so the growth is bounded by per-session buffers. The bound:
HEADER_ONLY_RSS_GROWTH_MAX = 32 * MIB
# Issue #8 finding 2: "the TCP accept loop spins on EMFILE". After the descriptor attack, with
# only the legit host sending, a daemon that backs off uses a small part of a core:
IDLE_CPU_MAX = 0.5  # CPU seconds per wall second
# Issue #8 finding 9: `tail --grep` on a 40 KB record must finish, not crash (RE2 or PCRE2).
TAIL_TIMEOUT = 10.0
# A line of the receiver's for one datagram of the attacker's (gap, missing bytes, junk escaped
# as \xNN): what the flood of small datagrams may add to disk, per datagram.
LINE_BYTES_PER_DATAGRAM = 512

UDP_MAX_PAYLOAD = 65507
# The baseline's time with no attack, between the warm-up and the final second: about as long as
# the attacks run (2.5 to 6 s of traffic, plus the time they wait for the daemon afterwards).
BASELINE_SECONDS = 5.0


def new_hosts_bound(seconds):
    """Host directories a flood of new sources may leave (issue #8: new directories for unknown
    senders are rate-limited): the first burst and the rate over the attack, 10% on top."""
    return int((NEW_HOSTS_BURST + NEW_HOSTS_PER_SECOND * seconds) * 1.1)


def spoofed_address(i, second_octet):
    return f"127.{second_octet + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


# ---- Attack generators (run in child processes; each returns what it sent) ------------------

def poison_variants():
    """Datagrams whose bytes are not UTF-8 (or carry NULs) where a sender controls them: the
    dictionary's host=, taskname=, release=, msgid=, its keys, the text, the release prefix of the
    `r` flag, and 64 KiB of junk. Each carries a token where a token can survive."""
    rnd = random.Random(8)
    junk = bytes(rnd.getrandbits(8) for _ in range(UDP_MAX_PAYLOAD))
    junk_dict = bytearray(b"6,1,1000,-;T09 ")
    while len(junk_dict) < UDP_MAX_PAYLOAD - 64:
        junk_dict += bytes(rnd.getrandbits(8) for _ in range(200)) + b"\n host=\xff\xfe" + bytes([rnd.getrandbits(8)])
    return [
        ("host", b"6,1,1000,-;hello T01\n host=\xff\n"),
        ("taskname", b"6,1,1000,-;hello T02\n cpu=0\n taskname=\xff\xfe\n release=6.1.0\n"),
        ("text", b"6,1,1000,-;hello \xff\xc3\x28 T03 \xed\xa0\x80 world\n"),
        ("release", b"6,1,1000,-;hello T04\n cpu=1\n taskname=swapper/1\n release=6.1.0-\xff\xc0\xaf\n"),
        ("release-prefix", b"6.1.0-\xff\xfe,6,1,1000,-;hello T05\n"),
        ("nul", b"6,1,1000,-;he\x00llo T06\n host=a\x00b\n taskname=\x00\n"),
        ("keys", b"6,1,1000,-;hello T07\n \xff\xfe=\xff\n SUBSYSTEM=\xff\n DEVICE=+\xff:x\n"),
        ("msgid", b"6,1,1000,-;hello T08\n msgid=\xff\n"),
        ("junk-dict", bytes(junk_dict[:UDP_MAX_PAYLOAD])),
        ("junk", junk),
        ("long-host", b"6,1,1000,-;hello T11\n host=" + b"\xff" * 60000 + b"\n"),
    ]


POISON_TRIGGER = b"0,2,2000,-;Kernel panic - not syncing: poisoned \xff\xfe\n host=\xff\n taskname=\xc0\n"


def gen_poison(port, rounds, interval):
    """Each variant from its own address 127.0.1.N, followed by a panic (which makes the receiver
    open an incident and save the host's state at once); ROUNDS times."""
    variants = poison_variants()
    socks = [udp_socket(f"127.0.1.{i + 1}", 6665) for i in range(len(variants))]
    sent = 0
    for r in range(rounds):
        for i, (_, payload) in enumerate(variants):
            base = 10 * r
            if r:
                payload = payload.replace(b"6,1,1000,", b"6,%d,%d," % (base + 1, 1000 + base * 1000), 1)
                payload = payload[:UDP_MAX_PAYLOAD]
            socks[i].sendto(payload, (RECEIVER_ADDRESS, port))
            trigger = POISON_TRIGGER.replace(b"0,2,2000,", b"0,%d,%d," % (base + 2, 2000 + base * 1000), 1)
            socks[i].sendto(trigger, (RECEIVER_ADDRESS, port))
            sent += 2
        if r + 1 < rounds:
            time.sleep(interval)
    return {"sent": sent}


def gen_spoofed_triggers(port, count, rate, duration, second_octet):
    """COUNT spoofed sources, each a record and a panic (an incident file each)."""
    spoof = Spoofer(port)
    sent = 0
    t0 = time.monotonic()
    for i in paced(count, rate, t0 + duration):
        src = spoofed_address(i + 1, second_octet)
        spoof.send(src, 6665, b"6,1,1000,-;spoofed host %d says hello\n" % i)
        spoof.send(src, 6665, b"0,2,2000,-;Kernel panic - not syncing: spoofed host %d\n" % i)
        sent += 1
    return {"sources": sent, "seconds": round(time.monotonic() - t0, 2)}


def gen_incident_amplifier(port, source, context_lines, line_size, cycles, rate, duration):
    """Fills the incident context with long records, then CYCLES times: a record whose seq (and
    time) goes backwards, a new "boot", then a trigger (panic, Oops, BUG in turn)."""
    s = udp_socket(source, 6665)
    t0 = time.monotonic()
    deadline = t0 + duration
    seq = 2_000_000
    filler = b"c" * line_size
    for i in paced(context_lines, 1000, deadline):
        seq += 1
        s.sendto(ext(6, seq, seq * 10, b"context %d " % i + filler), (RECEIVER_ADDRESS, port))
    kinds = [b"Kernel panic - not syncing: amplification %d", b"Oops: 0002 [#%d] PREEMPT SMP NOPTI",
             b"BUG: unable to handle page fault for address: %016x"]
    done = 0
    for i in paced(cycles, rate, deadline):
        # seq and time start again from the bottom, as after a real reboot; the time differs from
        # the cycle before, so that it is a new boot and not a duplicate.
        s.sendto(ext(6, 1, 1000 + i, b"Linux version 6.1.0-hostile (amplifier) cycle %d" % i), (RECEIVER_ADDRESS, port))
        s.sendto(ext(0, 2, 2000 + i, kinds[i % 3] % i), (RECEIVER_ADDRESS, port))
        done += 1
    return {"context_lines": context_lines, "cycles": done, "seconds": round(time.monotonic() - t0, 2)}


def gen_fragment_flood(port, source, ports, count, rate, duration):
    """`6,k,k,-,ncfrag=0/131072;` + 2 bytes (34 bytes): a fragment that declares 128 KiB, from
    PORTS source ports of one address, round robin."""
    socks = [udp_socket(source, 0) for _ in range(ports)]
    t0 = time.monotonic()
    sent = 0
    for i in paced(count, rate, t0 + duration):
        k = 10000 + i
        socks[i % ports].sendto(b"6,%d,%d,-,ncfrag=0/131072;xx" % (k, k), (RECEIVER_ADDRESS, port))
        sent += 1
    return {"datagrams": sent, "bytes_each": len(b"6,%d,%d,-,ncfrag=0/131072;xx" % (10000, 10000)),
            "seconds": round(time.monotonic() - t0, 2)}


def gen_many_ports(port, source, count, rate, duration):
    """One record from each of COUNT source ports of one address (spoofed: no sockets needed)."""
    spoof = Spoofer(port)
    t0 = time.monotonic()
    sent = 0
    for i in paced(count, rate, t0 + duration):
        spoof.send(source, 1024 + i, b"6,%d,%d,-;port %d of many\n" % (i + 1, 1000 + i, 1024 + i))
        sent += 1
    return {"ports": sent, "seconds": round(time.monotonic() - t0, 2)}


def gen_spoofed_junk(port, count, rate, duration, second_octet, seed):
    """COUNT spoofed source addresses, each one datagram of random junk (20 to 200 bytes)."""
    spoof = Spoofer(port)
    rnd = random.Random(seed)
    t0 = time.monotonic()
    sent = 0
    for i in paced(count, rate, t0 + duration):
        junk = rnd.randbytes(rnd.randint(20, 200))
        spoof.send(spoofed_address(i + 1, second_octet), 1024 + (i % 60000), junk)
        sent += 1
    return {"sources": sent, "seconds": round(time.monotonic() - t0, 2)}


def gen_forgery(port, source, count, rate):
    """Records whose dictionary carries the receiver's own keys."""
    s = udp_socket(source, 6665)
    t0 = time.monotonic()
    sent = 0
    for i in paced(count, rate, t0 + count / rate + 2):
        s.sendto(ext(6, 50 + i, 50_000 + i, b"forged fields %d" % i, b" src=4242\n late=1\n boot=99\n cpu=1\n"),
                 (RECEIVER_ADDRESS, port))
        sent += 1
    return {"sent": sent}


# ---- Checks shared by tests -----------------------------------------------------------------

def incident_files(session, address):
    d = os.path.join(session.host_dir(address), "incidents")
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return 0, 0
    return len(names), sum(os.lstat(os.path.join(d, n)).st_size for n in names)


def check_attack_results(session, results):
    session.figure("attacks", results)
    for name, value in results.items():
        session.check("error" not in value, f"attack {name} failed: {value.get('error')}")


def check_forged_fields(session, address, true_ports=None):
    """Lines of ADDRESS must not carry the receiver's own keys with the sender's values: late= and
    boot= never come from a sender's record, and src= (if any) is the real source port, once."""
    lines = [split_line(l) for l in read_lines(os.path.join(session.host_dir(address), "console.log"))]
    records = [c for c in lines if c and c[1] != "lastgasp"]
    forged = []
    for c in records:
        keys = [kv.partition("=")[0] for kv in c[5].split(" ") if "=" in kv]
        if "late" in keys or "boot" in keys or keys.count("src") > 1:
            forged.append(c[5])
        elif "src" in keys and (true_ports is None or int(field_value(c[5], "src")) not in true_ports):
            forged.append(c[5])
    session.figure(f"forged_field_lines_{address}", f"{len(forged)} of {len(records)}")
    session.check(records, f"no record of {address} in its console.log")
    session.check(not forged, f"{len(forged)} lines of {address} carry the sender's src=/late=/boot= as the "
                              f"receiver's fields, e.g. {forged[:1]}")


def cpu_over(session, seconds):
    a = harness.cpu_seconds(session.proc.pid)
    time.sleep(seconds)
    b = harness.cpu_seconds(session.proc.pid)
    return None if a is None or b is None else (b - a) / seconds


def verify_query(session, token, source="127.0.0.1", wait_ms=2000, timeout=5.0):
    """docs/protocol.md VERIFY: returns the response line, or the error met."""
    try:
        with socket.create_connection((RECEIVER_ADDRESS, session.port), timeout=timeout,
                                      source_address=(source, 0)) as c:
            c.sendall(f"LASTGASP/1 VERIFY token={token} wait_ms={wait_ms}\n".encode())
            return c.makefile("rb").readline().decode(errors="replace").strip()
    except OSError as e:
        return f"(no answer: {e})"


def pstore_upload(session, source, boot_id, name, body, timeout=5.0):
    """docs/protocol.md PSTORE, spoken directly: returns the response line, or the error met."""
    import hashlib
    sha = hashlib.sha256(body).hexdigest()
    header = (f"LASTGASP/1 PSTORE host=hostile-{source} boot_id={boot_id} name={name} size={len(body)} "
              f"sha256={sha}\n").encode()
    try:
        with socket.create_connection((RECEIVER_ADDRESS, session.port), timeout=timeout,
                                      source_address=(source, 0)) as c:
            c.sendall(header + body)
            return c.makefile("rb").readline().decode(errors="replace").strip()
    except OSError as e:
        return f"(no answer: {e})"


def wait_alive(session, seconds):
    """Lets SECONDS pass while the monitor watches; returns whether the daemon still lives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and session.alive():
        time.sleep(0.02)
    return session.check(session.alive(), f"the daemon is gone {time.monotonic() - session.started_at:.1f} s "
                                          f"after start ({harness.describe_status(session.proc.poll())})")


# ---- The tests ------------------------------------------------------------------------------

def test_baseline(new):
    """No attack: the legitimate host alone, measured as in every attack test (warm-up, then about
    as long as an attack lasts, then the oops and panic). Its latency is what bench/hostile sets
    each attack's latency beside."""
    s = new()
    s.begin()
    wait_alive(s, BASELINE_SECONDS)
    s.end(disk_bound=LEGIT_HOST_BYTES, dirs_bound=1)


def test_invalid_utf8(new):
    """Finding 1: one datagram with invalid UTF-8 in a dictionary value aborted the daemon (134).
    Every variant, each followed by a panic, from its own address; then time for the periodic
    state save. The daemon lives, and each variant's record is one well-formed line."""
    # journal = true: the issue names the journal among the places a sender's bytes reach; with
    # no journald listening the entries fail to send, but they are formatted all the same.
    s = new(config="journal = true\n")
    s.begin()
    variants = poison_variants()
    results = gen_poison(s.port, 1, 0)
    wait_alive(s, 2.5)  # housekeeping saves every host's state within a second or two
    for i, (name, payload) in enumerate(variants):
        address = f"127.0.1.{i + 1}"
        lines = read_lines(os.path.join(s.host_dir(address), "console.log"))
        bad = [l for l in lines if split_line(l) is None or "\0" in l]
        s.check(not bad, f"variant {name}: {len(bad)} lines of {address} do not split into the documented "
                         f"columns or hold a NUL, e.g. {bad[:1]!r:.120}")
        token = b"T%02d" % (i + 1)
        if token in payload[:200]:
            # In the text column only: the receive time holds "T01" from 01:00 to 01:59 UTC.
            n = sum(1 for l in lines if (cols := split_line(l)) and token.decode() in cols[4])
            s.check(n == 1, f"variant {name}: its record is in {n} lines of {address} (want 1)")
    s.figure("variants", [n for n, _ in variants])
    s.figure("datagrams", results["sent"])
    sent_bytes = sum(len(p) for _, p in variants) + len(POISON_TRIGGER) * len(variants)
    # Each byte may be written as \xNN (4 bytes) in console.log and once more in an incident file.
    s.end(disk_bound=LEGIT_HOST_BYTES + 8 * sent_bytes + len(variants) * SMALL_HOST_BYTES,
          dirs_bound=1 + len(variants))
    # The same bytes read back as JSON: `hosts --json` and `tail -o json` must print valid JSON.
    for args in (["hosts", "--json"], ["tail", "-n", "1000", "-o", "json"]):
        try:
            p = subprocess.run([s.binary] + args + ["--log-dir", s.log_dir], capture_output=True, timeout=10)
            rc, out = p.returncode, p.stdout
        except subprocess.TimeoutExpired:
            rc, out = "timeout", b""
        s.check(rc == 0, f"{' '.join(args)} on the poisoned logs: "
                         f"{rc if rc == 'timeout' else harness.describe_status(rc)}")
        bad = 0
        try:
            text = out.decode("utf-8")
            if args[0] == "hosts":
                json.loads(text)
            else:
                for line in text.splitlines():
                    json.loads(line)
        except (UnicodeDecodeError, ValueError) as e:
            bad = repr(e)[:160]
        s.figure(f"{args[0]}_json_bytes", len(out))
        s.check(not bad, f"{' '.join(args)} printed invalid JSON for the poisoned logs: {bad}")


def _descriptors(new, hard):
    sources = 1200
    soft = 1024
    hard_limit = soft if hard else resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    s = new(nofile=(soft, hard_limit))
    s.begin()
    s.figure("rlimit_nofile", (soft, hard_limit))
    attacks = Attacks()
    attacks.start(gen_spoofed_triggers, s.port, sources, 400, 5.0, 1)
    results = attacks.join(10)
    check_attack_results(s, results)
    wait_alive(s, 0.5)
    # The TCP side still works: the legit host asks whether a record of its arrived, one the
    # poller has seen on disk (so that a late record does not count twice).
    last = s.legit.order[-1]
    s.wait_for(lambda: last in s.poller.seen, 5.0)
    token = f"legit-{s.legit.run_id}-{last}"
    answer = verify_query(s, token)
    s.figure("verify_answer", answer)
    s.check(answer.startswith("OK found host=127.0.0.1"), f"VERIFY of a legit record after the attack: {answer!r}")
    cpu = cpu_over(s, 1.0)
    s.figure("cpu_after_attack", cpu if cpu is None else round(cpu, 2))
    s.check(cpu is not None and cpu <= IDLE_CPU_MAX,
            f"{cpu} CPU seconds a second after the attack, with only the legit host sending (max {IDLE_CPU_MAX})")
    fd_dir = f"/proc/{s.proc.pid}/fd"
    if os.path.isdir(fd_dir):
        s.figure("open_descriptors", len(os.listdir(fd_dir)))
    spoofed_ok = 0
    for i in range(1, sources + 1, 97):  # a sample of the spoofed hosts: their panic is on disk too
        spoofed_ok += any("Kernel panic - not syncing: spoofed host" in l for l in
                          read_lines(os.path.join(s.host_dir(spoofed_address(i, 1)), "console.log")))
    s.figure("spoofed_panics_on_disk_sampled", f"{spoofed_ok} of {len(range(1, sources + 1, 97))}")
    s.end(disk_bound=LEGIT_HOST_BYTES + sources * SMALL_HOST_BYTES, dirs_bound=1 + sources)


def test_descriptors_soft_limit(new):
    """Finding 2: started from a shell (soft RLIMIT_NOFILE 1024), 1,200 spoofed sources each send
    a record and a panic (a log file and an incident file each). The legit host's panic must
    still be written, VERIFY must answer, and the daemon must not spin."""
    _descriptors(new, hard=False)


def test_descriptors_hard_limit(new):
    """Finding 2, where the limit cannot be raised (soft = hard = 1024): the daemon must keep its
    log files, incident files and sessions within one budget below the limit."""
    _descriptors(new, hard=True)


def test_incident_amplification(new):
    """Finding 3: one source "reboots" and panics 100 times at 100/s after filling the incident
    context with long records. Incident files per host are bounded in number and size, and the
    legit host's records and its own incident are not delayed."""
    s = new()
    s.begin()
    source, context_lines, line_size = "127.0.0.20", 200, 5000
    attacks = Attacks()
    attacks.start(gen_incident_amplifier, s.port, source, context_lines, line_size, 100, 100, 4.0)
    results = attacks.join(8)
    check_attack_results(s, results)
    wait_alive(s, 0.5)
    files, size = incident_files(s, source)
    context_bytes = context_lines * (line_size + 200)
    incident_bytes_max = INCIDENT_FILES_PER_HOST_MAX * (context_bytes + 64 * 1024)
    s.figure("attacker_incident_files", files)
    s.figure("attacker_incident_bytes", size)
    s.check(files <= INCIDENT_FILES_PER_HOST_MAX,
            f"{files} incident files for one attacking host (max {INCIDENT_FILES_PER_HOST_MAX})")
    s.check(size <= incident_bytes_max, f"{size:,} bytes of incident files for one attacking host "
                                        f"(max {incident_bytes_max:,})")
    attacker_log = context_bytes + 100 * 2 * 400
    s.end(disk_bound=LEGIT_HOST_BYTES + attacker_log + incident_bytes_max, dirs_bound=2)


def test_fragment_budget(new):
    """Finding 4: 6,000 datagrams/s for 2 s, each a 34-byte fragment declaring 128 KiB, from 300
    ports of one address; the legit host's records are fragmented (2,400 bytes, 3 datagrams each,
    as netconsole sends them) and must all arrive whole."""
    s = new(legit_fragment_to=2400)
    s.begin()
    count = 12000
    attacks = Attacks()
    attacks.start(gen_fragment_flood, s.port, "127.0.0.30", 300, count, 6000, 2.5)
    results = attacks.join(8)
    check_attack_results(s, results)
    s.end(disk_bound=LEGIT_HOST_BYTES + count * LINE_BYTES_PER_DATAGRAM, dirs_bound=2)


def test_streams_and_spoofed_flood(new):
    """Finding 5: 20,000 source ports of one address (RSS bound), then 65,536 spoofed source
    addresses with junk (host directories bounded)."""
    s = new()
    s.begin()
    ports = 20000
    attacks = Attacks()
    attacks.start(gen_many_ports, s.port, "127.0.0.40", ports, 10000, 4.0)
    results = attacks.join(8)
    wait_alive(s, 0.5)
    growth = s.rss_now() - s.rss_baseline
    s.figure("rss_growth_20000_ports_mib", round(growth / MIB, 1))
    s.check(growth <= STREAMS_RSS_GROWTH_MAX, f"20,000 source ports of one address grew the RSS by "
                                              f"{growth / MIB:.1f} MiB (max {STREAMS_RSS_GROWTH_MAX / MIB:.0f} MiB)")
    sources = 65536
    t0 = time.monotonic()
    attacks.start(gen_spoofed_junk, s.port, sources, 16384, 6.0, 64, 5)
    results.update(attacks.join(10))
    flood_seconds = time.monotonic() - t0
    check_attack_results(s, results)
    wait_alive(s, 0.5)
    dirs_bound = 2 + new_hosts_bound(flood_seconds + 2)
    s.end(disk_bound=LEGIT_HOST_BYTES + ports * LINE_BYTES_PER_DATAGRAM + dirs_bound * SMALL_HOST_BYTES,
          dirs_bound=dirs_bound)


def test_tcp_sessions(new):
    """Finding 6: refused peers hold connections (80, from an address outside `allow`), then an
    allowed upload must succeed; 64 header-only uploads declaring 4 MiB each (8 allowed addresses,
    8 each) must not grow the RSS; aborted uploads leave nothing behind and their records can be
    uploaded again; SIGTERM with sessions open exits within 2 s."""
    s = new(config='allow = ["127.0.0.1/32", "127.0.3.0/24"]\n')
    s.begin()
    held = []
    refused_connected = 0
    for i in range(80):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.settimeout(1.0)
        c.bind(("127.0.0.2", 0))
        try:
            c.connect((RECEIVER_ADDRESS, s.port))
            if i % 2:
                c.sendall(b"LASTGASP/1 PSTO")  # half a header, and then nothing
            refused_connected += 1
        except OSError:
            pass
        held.append(c)
    s.figure("refused_peers_connected", refused_connected)
    boot_id = "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"
    body = b"".join(b"<6>[    0.%06d] hostile-suite pstore line %d\n" % (i, i) for i in range(400))
    t0 = time.monotonic()
    answer = pstore_upload(s, "127.0.0.1", boot_id, "dmesg-ramoops-0", body)
    s.figure("allowed_upload", f"{answer!r} in {time.monotonic() - t0:.2f} s")
    s.check(answer.startswith("OK stored"), f"an allowed upload while refused peers hold connections: {answer!r}")
    stored = os.path.join(s.host_dir("127.0.0.1"), "pstore", boot_id, "dmesg-ramoops-0")
    s.check(os.path.isfile(stored) and open(stored, "rb").read() == body,
            f"the allowed upload is not stored whole at {stored}")

    # 64 header-only uploads, 4 MiB declared each.
    before = s.rss_now()
    header_only = []
    boot2 = "9a0e3c44-5d1f-4f0e-8a43-1f2b3c4d5e6f"
    for i in range(64):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.settimeout(1.0)
        c.bind((f"127.0.3.{1 + i // 8}", 0))
        try:
            c.connect((RECEIVER_ADDRESS, s.port))
            c.sendall(f"LASTGASP/1 PSTORE host=hostile boot_id={boot2} name=dmesg-ramoops-{i} size={4 << 20} "
                      f"sha256={'ab' * 32}\n".encode())
        except OSError:
            pass
        header_only.append(c)
    peak = before
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        peak = max(peak, s.rss_now())
        time.sleep(0.02)
    held_open = 0
    for c in header_only:  # docs/protocol.md: no answer before the body; so each is still waiting
        c.setblocking(False)
        try:
            c.recv(1, socket.MSG_PEEK)
        except BlockingIOError:  # connected, and nothing said: held
            held_open += 1
        except OSError:
            pass
    s.figure("header_only_sessions_held", f"{held_open} of 64")
    s.check(held_open == 64, f"only {held_open} of 64 header-only uploads were held waiting for their body, so the "
                             f"memory they would commit was not measured")
    s.figure("rss_growth_header_only_mib", round((peak - before) / MIB, 1))
    s.check(peak - before <= HEADER_ONLY_RSS_GROWTH_MAX,
            f"64 header-only uploads of 4 MiB grew the RSS by {(peak - before) / MIB:.1f} MiB "
            f"(max {HEADER_ONLY_RSS_GROWTH_MAX / MIB:.0f} MiB)")
    # The eight of 127.0.3.1 give up; the same records then come whole and must be stored.
    for c in header_only[:8]:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # reset, as a dead client
        c.close()
    time.sleep(0.2)
    retried = []
    for i in range(8):
        retried.append(pstore_upload(s, "127.0.3.1", boot2, f"dmesg-ramoops-{i}", body + b"retry %d\n" % i))
    ok = sum(a.startswith("OK stored") for a in retried)
    s.figure("retried_uploads_stored", f"{ok} of 8 {retried[:1]}")
    s.check(ok == 8, f"uploads retried after aborted ones: {ok} of 8 stored, e.g. {retried[0]!r}")
    left = []
    for k in range(1, 9):
        for root, _, files in os.walk(os.path.join(s.host_dir(f"127.0.3.{k}"), "pstore")):
            left += [f"127.0.3.{k}/{f}" for f in files if f.startswith("dmesg-ramoops-")]
    extra = sorted(n for n in left if not (n.startswith("127.0.3.1/") and int(n.rsplit("-", 1)[1]) < 8))
    s.check(not extra, f"aborted uploads left {len(extra)} files behind, e.g. {extra[:3]}")
    s.figure("sessions_open_at_sigterm", len(held) + len(header_only) - 8)
    s.end(disk_bound=LEGIT_HOST_BYTES + 9 * (len(body) + 4096) + 9 * SMALL_HOST_BYTES, dirs_bound=10)
    for c in held + header_only[8:]:
        c.close()


def test_planted_files(new):
    """Finding 7: a FIFO planted as a host's console.log must not block the daemon; a hard link
    (and a symbolic link) planted as console.log must not be written through: the file outside
    the log dir stays untouched."""
    s = new()
    outside = os.path.join(s.tmp, "outside")
    os.makedirs(outside)
    fifo_host, link_host, symlink_host = "127.0.0.5", "127.0.0.6", "127.0.0.7"
    os.makedirs(s.host_dir(fifo_host))
    os.mkfifo(os.path.join(s.host_dir(fifo_host), "console.log"))
    secrets = {}
    for host, how in ((link_host, os.link), (symlink_host, os.symlink)):
        target = os.path.join(outside, f"precious-{host}.log")
        with open(target, "wb") as f:
            f.write(b"an operator's file that must stay as it is\n")
        os.makedirs(s.host_dir(host))
        how(target, os.path.join(s.host_dir(host), "console.log"))
        st = os.stat(target)
        secrets[target] = (open(target, "rb").read(), st.st_mtime_ns)
    s.begin()

    def send_from(host):
        sock = udp_socket(host, 6665)
        for seq in range(1, 6):
            sock.sendto(ext(6, seq, seq * 1000, f"planted-file host {host} record {seq}"), (RECEIVER_ADDRESS, s.port))
        sock.sendto(ext(0, 6, 6000, "Kernel panic - not syncing: planted"), (RECEIVER_ADDRESS, s.port))
        sock.close()

    # The links first, and time for their records to be written (flush_interval_ms is 25 ms, the
    # first record of a new stream waits out the reorder window) before the FIFO can stall anything.
    send_from(link_host)
    send_from(symlink_host)
    wait_alive(s, 0.6)
    for target, (content, mtime) in secrets.items():
        st = os.stat(target)
        now = open(target, "rb").read()
        s.check(now == content and st.st_mtime_ns == mtime,
                f"{target} outside the log dir was written through a planted link ({len(now)} bytes now, "
                f"{len(content)} before)")
    send_from(fifo_host)
    wait_alive(s, 1.5)
    s.figure("fifo_still_fifo", stat.S_ISFIFO(os.lstat(os.path.join(s.host_dir(fifo_host), "console.log")).st_mode))
    # The precious files are reached through the planted links too: count them in the bound.
    s.end(disk_bound=LEGIT_HOST_BYTES + 3 * SMALL_HOST_BYTES + sum(len(c) for c, _ in secrets.values()),
          dirs_bound=4)


def test_field_forgery(new):
    """Finding 8: a sender's dictionary carrying src=, late=, boot= (the receiver's own keys) must
    not show up as the receiver's fields, and a forged src= must not steer the resume of another
    stream after a restart (no false reboot or gap)."""
    s = new()
    s.begin()
    single, nat = "127.0.0.11", "127.0.0.10"
    a = udp_socket(nat, 0)
    b = udp_socket(nat, 0)
    pa, pb = a.getsockname()[1], b.getsockname()[1]
    one = udp_socket(single, 6665)
    target = (RECEIVER_ADDRESS, s.port)
    one.sendto(ext(6, 1, 1000, "single stream, forged fields", b" src=4242\n late=1\n boot=99\n cpu=1\n"), target)
    for seq in range(1, 6):
        a.sendto(ext(6, seq, seq * 1000, f"nat a {seq}"), target)
    a.sendto(ext(6, 6, 6000, "nat a 6 forged", b" src=1\n late=1\n boot=7\n"), target)
    for seq in range(100, 103):
        fields = b" src=%d\n late=1\n boot=99\n" % pa if seq == 102 else b""
        b.sendto(ext(6, seq, 900_000 + seq, f"nat b {seq}", fields), target)
    s.wait_for(lambda: sum("nat " in l for l in read_lines(os.path.join(s.host_dir(nat), "console.log"))) >= 9, 2.0)
    s.restart()
    for seq in range(7, 10):
        a.sendto(ext(6, seq, seq * 1000, f"nat a {seq}"), target)
    for seq in range(103, 105):
        b.sendto(ext(6, seq, 900_000 + seq, f"nat b {seq}"), target)
    s.wait_for(lambda: sum("nat " in l for l in read_lines(os.path.join(s.host_dir(nat), "console.log"))) >= 14, 2.0)
    check_forged_fields(s, single, true_ports=set())
    check_forged_fields(s, nat, true_ports={pa, pb})
    nat_lines = [split_line(l) for l in read_lines(os.path.join(s.host_dir(nat), "console.log"))]
    own = [c[4] for c in nat_lines if c and c[1] == "lastgasp"]
    s.figure("nat_host_receiver_lines", own)
    s.check(not own, f"false reboot or gap lines for the NAT host after a restart: {own[:3]}")
    s.check(sum(1 for c in nat_lines if c and c[1] != "lastgasp") == 14,
            f"{sum(1 for c in nat_lines if c and c[1] != 'lastgasp')} records of the NAT host (want 14)")
    s.end(disk_bound=LEGIT_HOST_BYTES + 2 * SMALL_HOST_BYTES, dirs_bound=3)


def test_tail_grep_long_record(new):
    """Finding 9: `lastgasp-receiver tail --grep` on a log holding a 40 KB record must not crash
    (std::regex recursed per character) and must finish in time."""
    s = new()
    s.begin()
    host = "127.0.0.12"
    sock = udp_socket(host, 6665)
    long_a = "a" * 40000 + " TAILEND"
    long_words = "word " * 8000 + "!"
    for seq, text in ((1, long_a), (2, long_words), (3, "a short one")):
        for d in ncfrag(6, seq, seq * 1000, text):
            sock.sendto(d, (RECEIVER_ADDRESS, s.port))
    path = os.path.join(s.host_dir(host), "console.log")
    s.check(s.wait_for(lambda: any("a short one" in l for l in read_lines(path)), 2.0),
            "the long records never reached the log")
    lens = sorted(len(l) for l in read_lines(path))
    s.figure("longest_line", lens[-1] if lens else 0)
    # Each of the first four must walk the 40,000 a's to match (std::regex recursed once per
    # character); the last cannot match the words record and backtracks in a backtracking engine.
    patterns = [("^(a|b)+ TAILEND$", True), ("^.* TAILEND", True), ("^a* TAILEND", True), ("(a+)+ TAILEND", True),
                (r"(\w+\s?)+$", False)]
    outcomes = []
    for pattern, must_match in patterns:
        t0 = time.monotonic()
        try:
            p = subprocess.run([s.binary, "tail", "--log-dir", s.log_dir, "--host", host, "-n", "100",
                                "--color", "never", "--grep", pattern], capture_output=True, timeout=TAIL_TIMEOUT)
            rc, out = p.returncode, p.stdout
        except subprocess.TimeoutExpired:
            rc, out = "timeout", b""
        took = time.monotonic() - t0
        outcomes.append((pattern, rc, round(took, 2)))
        s.check(rc == 0, f"tail --grep {pattern!r}: "
                         f"{rc if rc == 'timeout' else harness.describe_status(rc)} after {took:.1f} s")
        if must_match and rc == 0:
            s.check(b"TAILEND" in out, f"tail --grep {pattern!r} did not print the 40 KB record")
    s.figure("tail_runs", outcomes)
    s.end(disk_bound=LEGIT_HOST_BYTES + 4 * (len(long_a) + len(long_words)) + SMALL_HOST_BYTES, dirs_bound=2)


def test_mix(new):
    """Every UDP attack at once for ~5 s, under a soft descriptor limit of 1024: poisoned
    datagrams, spoofed sources that panic, incident amplification, the fragment flood, 20,000
    ports of one address, 30,000 spoofed sources with junk, and forged fields."""
    s = new(nofile=(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    s.begin()
    duration = 5.0
    attacks = Attacks()
    t0 = time.monotonic()
    attacks.start(gen_poison, s.port, 10, 0.5)
    attacks.start(gen_spoofed_triggers, s.port, 1100, 250, duration, 1)
    attacks.start(gen_incident_amplifier, s.port, "127.0.0.20", 200, 5000, 300, 60, duration)
    attacks.start(gen_fragment_flood, s.port, "127.0.0.30", 300, 15000, 3000, duration)
    attacks.start(gen_many_ports, s.port, "127.0.0.40", 20000, 4000, duration)
    attacks.start(gen_spoofed_junk, s.port, 30000, 6000, duration, 64, 10)
    attacks.start(gen_forgery, s.port, "127.0.0.11", 100, 20)
    results = attacks.join(duration + 6)
    elapsed = time.monotonic() - t0
    check_attack_results(s, results)
    wait_alive(s, 0.5)
    files, size = incident_files(s, "127.0.0.20")
    s.figure("attacker_incident_files", files)
    s.check(files <= INCIDENT_FILES_PER_HOST_MAX,
            f"{files} incident files for one attacking host (max {INCIDENT_FILES_PER_HOST_MAX})")
    check_forged_fields(s, "127.0.0.11", true_ports=set())
    dirs_bound = 2 + new_hosts_bound(elapsed + 2)
    poison_bytes = 10 * sum(len(p) for _, p in poison_variants())
    disk_bound = (LEGIT_HOST_BYTES + 8 * poison_bytes
                  + INCIDENT_FILES_PER_HOST_MAX * 200 * 5200 + 200 * 5200 + 300 * 800  # the amplifier
                  + (15000 + 20000 + 100) * LINE_BYTES_PER_DATAGRAM  # fragments, ports, forgery
                  + dirs_bound * SMALL_HOST_BYTES)  # every admitted host, spoofed or not
    s.end(disk_bound=disk_bound, dirs_bound=dirs_bound)


TESTS = {f.__name__.removeprefix("test_"): f for f in
         (test_baseline, test_invalid_utf8, test_descriptors_soft_limit, test_descriptors_hard_limit, test_incident_amplification,
          test_fragment_budget, test_streams_and_spoofed_flood, test_tcp_sessions, test_planted_files,
          test_field_forgery, test_tail_grep_long_record, test_mix)}


def main(argv):
    if len(argv) == 3 and argv[2] == "--list":
        print("\n".join(TESTS))
        return 0
    if len(argv) != 3 or argv[2] not in TESTS:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("the attack suite needs root (raw sockets to spoof loopback sources)", file=sys.stderr)
        return 1
    return harness.run(TESTS[argv[2]], argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
