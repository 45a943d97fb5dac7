#!/usr/bin/env python3
"""lastgasp's end-to-end test: Debian's own kernel really panics under qemu (TCG).

The host runs lastgasp-receiver on loopback; the guest (slirp: 10.0.2.2 is the
host's loopback) is configured by lastgasp-setup inside it, logs test lines and
panics with sysrq-c. qemu's serial console is the ground truth: every kernel
record it shows from the moment netconsole was enabled must be in the
receiver's log for the host, in order, with the same text.

Scenarios:
  netconsole  one boot, netconsole only (qemu -no-reboot exits at the reset)
  plain       the same, in the legacy format (lastgasp-setup netconsole --plain)
  pstore      ramoops from lastgasp-setup pstore; boot 2 runs collect; the
              receiver holds the boot-1 panic from pstore next to netconsole's
  nicdeath    netconsole in boot 1 points where nothing listens; the panic
              still arrives, through pstore, after the reboot
  vlan        the guest's address is on an 802.1Q device; its NIC is a trunk
              to a switch in this process, which passes only frames tagged
              with the VLAN on to slirp
  bond        the guest's address is on an active-backup bond of two NICs;
              the host pulls the active port's cable (qemu set_link) before
              the panic, which must arrive whole through the backup port
  receivers   one lastgasp-setup run sends to three receivers; the host kills
              the third before the panic: the other two each hold every
              record and the whole panic, the dead one does not stop them

Exit 0 pass, 1 fail.
"""
import argparse, glob, json, os, re, selectors, shutil, signal, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ports import free_port  # noqa: E402  (tests/support: one of it)

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = None
PANIC_LINE = b"Kernel panic - not syncing"
VLAN_ID = 100
BOND_MACS = {"n0": "52:54:00:00:00:01", "n1": "52:54:00:00:00:02"}  # qemu netdev -> its NIC's MAC
FAILOVER_DONE = b"E2E: failover done"  # the bond scenario's /init logs it once the backup port took over


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.monotonic() - T0:7.2f}] {msg}", flush=True)


def escape_kernel(text: bytes) -> str:
    """The kernel's extended-format escaping: bytes outside printable ASCII, and
    the backslash, become \\xNN."""
    out = []
    for b in text:
        if b < 0x20 or b >= 0x7f or b == 0x5c:
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def escape_legacy(text: bytes) -> str:
    """The receiver's escaping of legacy-format text, which the kernel sends raw:
    control bytes and the backslash become \\xNN, everything else (UTF-8) stays as
    sent. (The unit tests hold the rule against hand-written lines.)"""
    out = bytearray()
    for b in text:
        out += b"\\x%02x" % b if b < 0x20 or b == 0x7f or b == 0x5c else bytes([b])
    return out.decode("utf-8", "replace")


SERIAL_RECORD = re.compile(rb"^\[\s*(\d+\.\d{6})\] (.*)$")


def serial_records(lines, escape=escape_kernel):
    """(ktime, escaped text) of every kernel record line of the serial console."""
    recs = []
    for raw in lines:
        m = SERIAL_RECORD.match(raw)
        if m:
            recs.append((m.group(1).decode(), escape(m.group(2))))
    return recs


def parse_log(path):
    """The receiver's console.log: one dict per line."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, "rb") as f:
        for raw in f:
            cols = raw.rstrip(b"\n").decode("utf-8", "replace").split("\t")
            if len(cols) < 5:
                continue
            ktime = cols[3].strip()
            m = re.match(r"^\[\s*(\d+\.\d+)\]$", ktime)
            rows.append({"recv": cols[0], "level": cols[1], "seq": cols[2],
                         "ktime": m.group(1) if m else None, "text": cols[4],
                         "fields": cols[5] if len(cols) > 5 else "", "raw": raw})
    return rows


def fields_of(row):
    d = {}
    for word in row["fields"].split():
        k, _, v = word.partition("=")
        d[k] = v
    return d


def bound(table, port, state):
    """Whether /proc/net/{udp,tcp} shows 127.0.0.1:PORT in STATE (07 UDP bound, 0A TCP listening)."""
    want = "0100007F:%04X" % port
    with open(table) as f:
        return any(l.split()[1] == want and l.split()[3] == state for l in list(f)[1:])


class Sniffer:
    """Every UDP datagram to 127.0.0.1:PORT as it crosses loopback (AF_PACKET,
    root only), written to capture.txt like the recipe's capture-sample.txt:
    when the receiver's log and the serial console disagree, this says whether
    the datagram was on the wire at all. Best effort: no capture, no failure."""
    def __init__(self, port, path):
        self.port, self.path, self.packets, self.stop_flag = port, path, [], threading.Event()
        self.t0 = time.monotonic()
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
            self.sock.bind(("lo", 0))
            self.sock.settimeout(0.2)
        except OSError:
            self.sock = None
            return
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == socket.PACKET_OUTGOING or len(data) < 28 or data[9] != 17:
                continue
            ihl = (data[0] & 15) * 4
            sport, dport = int.from_bytes(data[ihl:ihl + 2], "big"), int.from_bytes(data[ihl + 2:ihl + 4], "big")
            if dport == self.port:
                self.packets.append((time.monotonic() - self.t0, sport, data[ihl + 8:]))

    def stop(self):
        if not self.sock:
            return
        self.stop_flag.set()
        self.thread.join(2)
        with open(self.path, "w") as f:
            for t, sport, payload in self.packets:
                f.write(f"{t:8.3f} 127.0.0.1:{sport} {payload!r}\n")


class Receiver:
    def __init__(self, binary, work, port, config=None, name="logs"):
        self.log_dir = os.path.join(work, name)
        os.makedirs(self.log_dir, exist_ok=True)
        if not config:  # the defaults, not whatever /etc/lastgasp/receiver.toml says on this machine
            config = os.path.join(work, "defaults.toml")
            open(config, "w").close()
        # no HTTP side: 127.0.0.1:9666 is one port for every test
        args = [binary, "--config", config, "--listen", f"127.0.0.1:{port}", "--log-dir", self.log_dir, "--http", ""]
        self.out = open(os.path.join(work, f"receiver-{name}.out"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
        self.port = port
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"the receiver exited with {self.proc.returncode}: {open(self.out.name).read()}")
            if bound("/proc/net/udp", port, "07") and bound("/proc/net/tcp", port, "0A"):
                return
            time.sleep(0.05)
        raise Failure("the receiver did not bind UDP and listen on TCP (collect, verify) on its port within 10 s")

    def wait_until_read(self, timeout=10.0):
        """Until the kernel holds no unread datagram for this receiver (rx_queue 0 on each of its
        sockets): what it has read, SIGTERM writes. A stopped receiver has nothing to wait for (a
        sink may hold its port)."""
        if self.proc.poll() is not None:
            return
        want = "0100007F:%04X" % self.port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open("/proc/net/udp") as f:
                queues = [l.split()[4] for l in list(f)[1:] if l.split()[1] == want]
            if all(int(q.split(":")[1], 16) == 0 for q in queues):
                return
            time.sleep(0.02)
        raise Failure(f"the receiver on port {self.port} left datagrams unread for {timeout} s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill(); self.proc.wait()
        self.out.close()


class VlanSwitch:
    """The host's end of the guest's 802.1Q trunk. qemu's socket netdev hands
    it every frame of the guest's NIC as one UDP datagram on loopback; frames
    tagged with VID go on, untagged, to slirp (a second socket netdev on a qemu
    hub with it), and slirp's frames come back tagged. Everything else is
    dropped, so whatever reaches the receiver crossed the wire tagged."""
    TPID = b"\x81\x00"

    def __init__(self, vid):
        self.vid, self.tagged, self.dropped, self.panic_tagged = vid, 0, 0, False
        self.trunk, self.access = self.bound_socket(), self.bound_socket()
        self.guest_nic = ("127.0.0.1", free_port())  # where qemu's trunk netdev listens
        self.slirp_side = ("127.0.0.1", free_port())  # where qemu's access netdev listens
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @staticmethod
    def bound_socket():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # the panic comes as one burst of frames while this thread may be off the
        # CPU (the kernel caps the size at net.core.rmem_max for non-root)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(("127.0.0.1", 0))
        return s

    def qemu_args(self):
        """The guest's NIC on the trunk; slirp and the access socket on one qemu hub."""
        trunk_port, access_port = self.trunk.getsockname()[1], self.access.getsockname()[1]
        return ["-netdev", f"socket,id=trunk,udp=127.0.0.1:{trunk_port},localaddr=127.0.0.1:{self.guest_nic[1]}",
                "-device", "virtio-net-pci,netdev=trunk,romfile=",
                "-netdev", f"socket,id=access,udp=127.0.0.1:{access_port},localaddr=127.0.0.1:{self.slirp_side[1]}",
                "-netdev", "user,id=n0,restrict=off",
                "-netdev", "hubport,id=hub_access,hubid=0,netdev=access",
                "-netdev", "hubport,id=hub_slirp,hubid=0,netdev=n0"]

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.trunk, selectors.EVENT_READ, self.from_guest)
        sel.register(self.access, selectors.EVENT_READ, self.from_slirp)
        while not self.stop_flag.is_set():
            for key, _ in sel.select(0.2):
                key.data(key.fileobj.recv(65536))

    def from_guest(self, frame):
        if frame[12:14] != self.TPID or int.from_bytes(frame[14:16], "big") & 0xfff != self.vid:
            self.dropped += 1
            return
        self.tagged += 1
        self.panic_tagged |= PANIC_LINE in frame
        self.access.sendto(frame[:12] + frame[16:], self.slirp_side)

    def from_slirp(self, frame):
        self.trunk.sendto(frame[:12] + self.TPID + self.vid.to_bytes(2, "big") + frame[12:], self.guest_nic)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(2)
        log(f"vlan switch: {self.tagged} frames tagged with VLAN {self.vid} passed, {self.dropped} others dropped")


class CablePuller:
    """The bond scenario's two NICs, each on its own slirp, and qemu's monitor,
    through which the guest's request (PULL-CABLE <mac> on the serial console)
    takes that NIC's link down, as an unplugged cable would. filter-dump keeps
    each port's frames, to show which port the panic left through."""
    def __init__(self, work):
        self.monitor = os.path.join(work, "monitor.sock")
        self.pcaps = {nd: os.path.join(work, f"{nd}.pcap") for nd in BOND_MACS}
        self.pulled = None

    def qemu_args(self):
        args = ["-monitor", f"unix:{self.monitor},server=on,wait=off"]
        for nd, mac in BOND_MACS.items():
            args += ["-netdev", f"user,id={nd},restrict=off",
                     "-device", f"virtio-net-pci,netdev={nd},mac={mac},romfile=",
                     "-object", f"filter-dump,id=dump_{nd},netdev={nd},file={self.pcaps[nd]}"]
        return args

    def on_serial(self, line):
        m = re.search(rb"PULL-CABLE ([0-9a-f:]{17})", line)
        if not m:
            return
        mac = m.group(1).decode()
        self.pulled = next((nd for nd, nic_mac in BOND_MACS.items() if nic_mac == mac), None)
        if not self.pulled:
            raise Failure(f"the guest asks to pull the cable of {mac}, which is none of {BOND_MACS}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mon:
            mon.settimeout(10)
            mon.connect(self.monitor)
            mon.sendall(f"set_link {self.pulled} off\n".encode())
            answer = b""
            while answer.count(b"(qemu)") < 2:  # the greeting's prompt, then the one after our command
                chunk = mon.recv(4096)
                if not chunk:
                    raise Failure(f"qemu's monitor hung up on 'set_link {self.pulled} off': {answer!r}")
                answer += chunk
        log(f"pulled the cable of {self.pulled} ({mac})")

    def dumped(self, netdev, needle):
        """How often NEEDLE is in the frames that crossed NETDEV (filter-dump's pcap)."""
        with open(self.pcaps[netdev], "rb") as f:
            return f.read().count(needle)


def plain_network():
    return ["-netdev", "user,id=n0,restrict=off", "-device", "virtio-net-pci,netdev=n0,romfile="]


def run_qemu(a, initrd, append, reboot, timeout, serial_path, network, on_serial=lambda line: None):
    qemu = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64", "-M", "q35", "-m", "256", "-smp", "1",
            "-nodefaults", "-display", "none", "-serial", "stdio",
            "-kernel", os.path.join(a.kernel_dir, "vmlinux"), "-initrd", initrd, "-append", append] + network
    if not reboot:
        qemu.append("-no-reboot")
    log("qemu " + " ".join(repr(x) if " " in x or "$" in x else x for x in qemu))
    p = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, events = [], {}
    inits = 0
    killed = []

    def kill(why):
        if p.poll() is None:
            killed.append(why); p.kill()
    timer = threading.Timer(timeout, kill, ["timeout"]); timer.start()
    t0 = time.monotonic()
    with open(serial_path, "wb") as serial:
        for raw in iter(p.stdout.readline, b""):
            line = raw.rstrip(b"\r\n").replace(b"\r", b"")
            line = re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]|\x1bc", b"", line)
            t = time.monotonic() - t0
            serial.write(b"%8.3f " % t + line + b"\n"); serial.flush()
            lines.append(line)
            if a.verbose:
                print(f"{t:8.3f} {line.decode('utf-8', 'replace')}", flush=True)
            try:
                on_serial(line)
            except (Failure, OSError) as e:
                kill(f"{e}")
            if b"userspace reached" in line:
                inits += 1
                events.setdefault(f"boot{inits}_userspace", t)
                if inits >= 3:
                    kill("a third boot: pstore did not stop the loop")
            for key, ev in ((b"Kernel panic - not syncing", "panic"), (b"network logging started", "netconsole"),
                            (b"powering off", "poweroff")):
                if key in line:
                    events.setdefault(f"boot{inits}_{ev}", t)
    rc = p.wait(); timer.cancel()
    events["qemu_exit"] = time.monotonic() - t0
    if killed:
        raise Failure(f"qemu killed: {killed[0]} (serial console in {serial_path})")
    log(f"qemu exited {rc}; " + ", ".join(f"{k} {v:.1f}s" for k, v in events.items()))
    return lines, events


def boot_segments(lines):
    """The serial console split at each boot's kernel banner; what qemu says
    before the first (the vlan scenario's hub warns it has no NIC) goes with boot 1."""
    segs, cur, booted = [], [], False
    for line in lines:
        if re.match(rb"^\[\s*0\.000000\] Linux version", line):
            if booted:
                segs.append(cur); cur = []
            booted = True
        cur.append(line)
    segs.append(cur)
    return segs


NETCONSOLE_STARTED = b"netconsole: network logging started"


def compare_boot(serial_lines, rows, what, escape, since=NETCONSOLE_STARTED):
    """Every kernel record of the serial console after the line SINCE (by
    default: netconsole was enabled) is in the receiver's rows, in order, with
    the same text. Returns the number checked."""
    start = None
    for i, line in enumerate(serial_lines):
        if since in line:
            start = i
    if start is None:
        raise Failure(f"{what}: the serial console never says {since.decode()!r}")
    want = serial_records(serial_lines[start + 1:], escape)
    have = [(r["ktime"], r["text"]) for r in rows if r["ktime"] is not None and r["level"] != "lastgasp"]
    j = 0
    for k, rec in enumerate(want):
        while j < len(have) and have[j] != rec:
            j += 1
        if j == len(have):
            near = [h for h in have if h[0] == rec[0]]
            raise Failure(f"{what}: serial record #{k} [{rec[0]}] {rec[1][:200]!r} is not in the receiver's log "
                          f"after the previous one (same timestamp there: {near[:2]!r})")
        j += 1
    if not want:
        raise Failure(f"{what}: no kernel records on the serial console after {since.decode()!r}")
    panic = [r for r in want if "Kernel panic - not syncing" in r[1]]
    if not panic:
        raise Failure(f"{what}: no 'Kernel panic - not syncing' on the serial console")
    # The loop found every serial record in order; nothing of the kernel's may follow the last one.
    if have[-1] != want[-1]:
        raise Failure(f"{what}: the receiver's log goes on after the kernel's last line {want[-1]!r}: "
                      f"{have[j:j + 3]!r}")
    log(f"{what}: all {len(want)} serial records since {since.decode()!r} are in the receiver's log, "
        f"in order; the last: [{want[-1][0]}] {want[-1][1]!r}")
    return len(want)


def check_test_lines(rows, what, escape):
    texts = [r["text"] for r in rows]
    needs = ["E2E: hello from the guest, info level",
             escape("E2E: a line with non-ascii: café ✓ tab[\t] end".encode()),
             "E2E: long line " + "x" * 965 + " END",
             "Kernel panic - not syncing: sysrq triggered crash"]
    for n in needs:
        if n not in texts:
            raise Failure(f"{what}: the receiver's log lacks {n[:80]!r}")


def host_dir(log_dir):
    dirs = [d for d in os.listdir(log_dir) if os.path.isdir(os.path.join(log_dir, d))]
    if dirs != ["127.0.0.1"]:
        raise Failure(f"the log directory should hold only 127.0.0.1 (the sender's address): {dirs}")
    return os.path.join(log_dir, "127.0.0.1")


def check_incident(hdir, what):
    files = glob.glob(os.path.join(hdir, "incidents", "*"))
    if not any("Kernel panic - not syncing" in open(f, errors="replace").read() for f in files):
        raise Failure(f"{what}: no incident file holds the panic ({files})")


def check_612_fields(rows, a, guest_host, receiver_bin, log_dir):
    if a.series != "6.12":
        return
    ver = open(os.path.join(a.kernel_dir, "version")).read().strip()
    kern = [r for r in rows if r["level"] != "lastgasp" and r["ktime"]]
    panic = [r for r in kern if "Kernel panic - not syncing" in r["text"]]
    for r in panic + [r for r in kern if r["text"].startswith("E2E: hello")]:
        f = fields_of(r)
        if f.get("release") != ver or f.get("host") != guest_host:
            raise Failure(f"6.12: the record {r['text'][:60]!r} should carry release={ver} host={guest_host} "
                          f"as fields, has {r['fields']!r}")
    out = subprocess.run([receiver_bin, "hosts", "--log-dir", log_dir, "--json"], capture_output=True, text=True)
    if guest_host not in out.stdout:
        plain = subprocess.run([receiver_bin, "hosts", "--log-dir", log_dir], capture_output=True, text=True).stdout
        raise Failure(f"'lastgasp-receiver hosts' does not show the host's own name {guest_host}: {plain}{out.stderr}")
    log(f"6.12: release={ver} and host={guest_host} arrive as fields; 'hosts' names the host {guest_host}")


def guest_iomem(a, initrd, work):
    """The guest's /proc/iomem, from a boot that prints it: the same machine,
    memory and kernel as the scenario's boots, so the same RAM map."""
    lines, _ = run_qemu(a, initrd, "console=ttyS0,115200 e2e.scenario=iomem", reboot=False, timeout=60,
                        serial_path=os.path.join(work, "serial-iomem.log"), network=[])
    iomem = [l[len(b"E2E-IOMEM:"):].decode() for l in lines if l.startswith(b"E2E-IOMEM:")]
    if not any("System RAM" in l for l in iomem):
        raise Failure(f"the iomem boot printed no System RAM range (serial console in {work}/serial-iomem.log)")
    return "\n".join(iomem) + "\n"


def pstore_kernel_args(a, setup_bin, work, initrd):
    """The kernel arguments lastgasp-setup pstore proposes for this guest, as
    GRUB would pass them: asked of the tool itself, on a tree that shows what
    the guest has (its real /proc/iomem, no backend yet, ramoops a module)."""
    tree = os.path.join(work, "pstore-proposal-root")
    os.makedirs(os.path.join(tree, "proc"), exist_ok=True)
    with open(os.path.join(tree, "proc/iomem"), "w") as f:
        f.write(guest_iomem(a, initrd, work))
    # A loaded module has initstate; without it the tree would show a built-in
    # ramoops, whose parameters lastgasp-setup puts on the command line instead.
    os.makedirs(os.path.join(tree, "sys/module/ramoops"), exist_ok=True)
    with open(os.path.join(tree, "sys/module/ramoops/initstate"), "w") as f:
        f.write("live\n")
    out = subprocess.run([setup_bin, "--root", tree, "--json", "pstore"], capture_output=True, text=True)
    if out.returncode != 0:
        raise Failure(f"lastgasp-setup pstore (proposal) failed: {out.stderr}")
    args = json.loads(out.stdout)["proposal"]["kernel_args"].split()
    log(f"lastgasp-setup pstore proposes: {' '.join(args)}")
    return args


def kill_asked(receiver):
    """The receivers scenario's serial hook: the guest asks for its third
    receiver to be killed before the panic. Its UDP port then swallows what
    comes, as a dead receiver behind a firewall that drops: slirp sends every
    target's datagrams from one host socket (one per guest source port), and
    since libslirp 4.7 an ICMP port unreachable for one destination fails that
    socket's next sendto, to another receiver. On a real network the ICMP goes
    back to the panicking host, which ignores it. (The first run, with the port
    closed, lost the second receiver's records from the kill on.)"""
    held = []

    def on_serial(line):
        if re.search(rb"KILL-RECEIVER %d\b" % receiver.port, line) and receiver.proc.poll() is None:
            receiver.stop()
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", receiver.port))
            held.append(sink)  # open until the end of the run; TCP stays refused, so verify says it is down
            log(f"killed the receiver on port {receiver.port}, as the guest asked")
    return on_serial


def check_receivers(a, more, serial_boot, guest_host, receiver_bin):
    """The second receiver holds every record and the panic, as the first does;
    the third, killed before the panic, had what came before and nothing after."""
    second, third = more
    rows = parse_log(os.path.join(host_dir(second.log_dir), "console.log"))
    compare_boot(serial_boot, rows, f"{a.series} boot 1, second receiver", escape_kernel)
    check_test_lines(rows, f"{a.series} boot 1, second receiver", escape_kernel)
    check_incident(host_dir(second.log_dir), f"{a.series}, second receiver")
    check_612_fields(rows, a, guest_host, receiver_bin, second.log_dir)
    dead = parse_log(os.path.join(host_dir(third.log_dir), "console.log"))
    if not any("E2E: netconsole configured by lastgasp-setup" in r["text"] for r in dead):
        raise Failure("the third receiver, alive until the guest asked it killed, lacks the guest's early lines")
    if any(PANIC_LINE.decode() in r["text"] for r in dead):
        raise Failure("the third receiver has the panic, though it was killed before it: it was not dead")
    log("the second receiver holds every record and the panic; the third was down for the panic, "
        "and the other two have it whole")


def main():
    global T0
    T0 = time.monotonic()
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", required=True, choices=["6.1", "6.12"])
    ap.add_argument("--scenario", default="netconsole",
                    choices=["netconsole", "plain", "pstore", "nicdeath", "vlan", "bond", "receivers"])
    ap.add_argument("--build", required=True, help="the plain build directory")
    ap.add_argument("--work", default=None, help="where logs go (kept); default a temporary directory")
    ap.add_argument("--timeout", type=float, default=150, help="seconds for the guest, all boots")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    receiver_bin = os.path.join(a.build, "receiver", "lastgasp-receiver")
    setup_bin = os.path.join(a.build, "sender-setup", "lastgasp-setup")
    work = a.work or tempfile.mkdtemp(prefix=f"lastgasp-e2e-{a.series}-{a.scenario}-")
    if os.path.exists(work) and a.work:
        shutil.rmtree(work)
    os.makedirs(work, exist_ok=True)
    log(f"work directory {work}")
    global WORK
    WORK = work

    fetched = subprocess.run([os.path.join(HERE, "fetch-kernel.sh"), a.series], stdout=subprocess.PIPE, text=True)
    if fetched.returncode != 0:
        raise Failure("could not fetch the kernel")
    a.kernel_dir = fetched.stdout.strip()
    log(f"kernel {open(os.path.join(a.kernel_dir, 'package')).read().strip()} from {a.kernel_dir}")
    initrd = os.path.join(work, "initramfs.cpio.gz")
    subprocess.run([os.path.join(HERE, "build-initramfs.sh"), a.kernel_dir, setup_bin, os.path.join(HERE, "init"),
                    initrd], check=True)
    log("initramfs built")

    port = free_port()
    sniffer = Sniffer(port, os.path.join(work, "capture.txt"))
    rx = Receiver(receiver_bin, work, port)
    # receivers: two more, each with its own log directory; the guest asks the
    # host to kill the third before the panic
    more = [Receiver(receiver_bin, work, free_port(), name=f"logs-{i}") for i in (2, 3)] \
        if a.scenario == "receivers" else []
    switch = VlanSwitch(VLAN_ID) if a.scenario == "vlan" else None
    puller = CablePuller(work) if a.scenario == "bond" else None
    network = switch.qemu_args() if switch else puller.qemu_args() if puller else plain_network()
    try:
        guest_host = "e2e-" + a.series.replace(".", "") + "-" + a.scenario
        append = ["console=ttyS0,115200", f"e2e.scenario={a.scenario}", f"e2e.port={port}", f"e2e.host={guest_host}",
                  "e2e.verify=1"]
        if switch:
            append.append(f"e2e.vlan={VLAN_ID}")
        for i, other in enumerate(more, start=2):
            append.append(f"e2e.port{i}={other.port}")
        one_boot = a.scenario in ("netconsole", "plain", "vlan", "bond", "receivers")
        if not one_boot:
            # What lastgasp-setup pstore proposes for this guest: it takes it on its
            # command line, as GRUB would; in the guest, pstore --apply finds the same region.
            pstore_args = pstore_kernel_args(a, setup_bin, work, initrd)
            append += pstore_args
            if a.scenario == "nicdeath":
                append.append(f"e2e.deadport={free_port()}")
        on_serial = puller.on_serial if puller else kill_asked(more[-1]) if more else lambda line: None
        serial, events = run_qemu(a, initrd, " ".join(append), reboot=not one_boot,
                                  timeout=a.timeout, serial_path=os.path.join(work, "serial.log"),
                                  network=network, on_serial=on_serial)
        for r in [rx] + more:
            r.wait_until_read()
    finally:
        rx.stop()
        for other in more:
            other.stop()
        sniffer.stop()
        if switch:
            switch.stop()
    segs = boot_segments(serial)
    text = b"\n".join(serial)
    fails = [l for l in serial if re.match(rb"^fail ", l)]
    if fails:
        raise Failure(f"lastgasp-setup check reported fail items: {fails}")
    # before the receiver's side: when /init gave up, that is the story, not an empty log directory
    died = re.search(rb"E2E\[[0-9.]+\]: FAILED: (.*)", text)
    if died:
        raise Failure(f"the guest's /init gave up: {died.group(1).decode(errors='replace')}")
    log_dir = rx.log_dir
    hdir = host_dir(log_dir)
    rows = parse_log(os.path.join(hdir, "console.log"))
    # verify: the canary must arrive when netconsole works, and must not when it is dead
    want_verify = b"VERIFY rc=1" if a.scenario == "nicdeath" else b"VERIFY rc=0"
    if want_verify not in text:
        raise Failure(f"lastgasp-setup verify in the guest: expected {want_verify.decode()}")
    log(f"verify: {want_verify.decode()} as expected ("
        + ("the canary arrived" if a.scenario != "nicdeath" else "netconsole is dead and verify says so") + ")")

    check_egress_device(a, text)
    if a.scenario in ("netconsole", "plain", "pstore", "vlan", "bond", "receivers"):
        boot1_rows = rows
        if a.scenario == "pstore":
            # boot 2's records follow a reboot line; boot 1 is what precedes it
            cut = next((i for i, r in enumerate(rows) if r["level"] == "lastgasp" and "reboot" in r["text"]), len(rows))
            boot1_rows = rows[:cut]
        escape = escape_legacy if a.scenario == "plain" else escape_kernel
        # bond: what the kernel logged while the pulled port was still the
        # active one went down that cable; from the failover on, nothing may be lost.
        since = FAILOVER_DONE if puller else NETCONSOLE_STARTED
        compare_boot(segs[0], boot1_rows, f"{a.series} boot 1", escape, since)
        check_test_lines(boot1_rows, f"{a.series} boot 1", escape)
        check_incident(hdir, a.series)
        if a.scenario != "plain":  # the legacy format carries no release and no userdata
            check_612_fields(boot1_rows, a, guest_host, receiver_bin, log_dir)
        if not any(r["level"] == "lastgasp" and "panic" in r["text"] for r in rows):
            raise Failure("the host's log has no 'lastgasp: panic' line")
    if more:
        check_receivers(a, more, segs[0], guest_host, receiver_bin)
    if a.scenario in ("pstore", "nicdeath"):
        check_pstore(a, hdir, rows, segs, text, pstore_args)
    if switch:
        check_vlan(switch)
    if puller:
        check_bond(puller)
    log(f"PASS {a.series} {a.scenario} in {time.monotonic() - T0:.1f}s")
    if not a.keep and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def check_egress_device(a, text):
    """lastgasp-setup must have chosen, from the route, the device that holds the address."""
    want = {"vlan": f"eth0.{VLAN_ID}", "bond": "bond0"}.get(a.scenario, "eth0")
    chosen = set(m.decode() for m in re.findall(rb"netconsole dev_name=(\S*)", text))
    if chosen != {want}:
        raise Failure(f"lastgasp-setup's netconsole target should use {want}, uses {sorted(chosen)}")
    log(f"lastgasp-setup chose {want} as the netconsole device")


def check_vlan(switch):
    if not switch.panic_tagged:
        raise Failure(f"the panic never crossed the trunk in a frame tagged with VLAN {VLAN_ID}")
    log(f"the panic crossed the trunk tagged with VLAN {VLAN_ID}")


def check_bond(puller):
    if not puller.pulled:
        raise Failure("the guest never asked for the active port's cable to be pulled")
    backup = next(nd for nd in BOND_MACS if nd != puller.pulled)
    before = puller.dumped(puller.pulled, b"E2E: netconsole configured by lastgasp-setup")
    through_pulled, through_backup = puller.dumped(puller.pulled, PANIC_LINE), puller.dumped(backup, PANIC_LINE)
    if not before or through_pulled or not through_backup:
        raise Failure(f"the panic should leave through the backup port {backup} only, after netconsole went out "
                      f"through {puller.pulled}: {puller.pulled} carried the setup line {before}x and the panic "
                      f"{through_pulled}x, {backup} the panic {through_backup}x")
    log(f"netconsole went out through {puller.pulled} until its cable was pulled; the panic through {backup}")


def check_pstore(a, hdir, rows, segs, text, kernel_args):
    if len(segs) < 2:
        raise Failure("the guest did not reboot after the panic (kernel.panic as lastgasp-setup set it)")
    # In the guest, pstore --apply ran again before ramoops was loaded: both boots must point
    # ramoops at the region on the command line, not at the middle of the RAM it split.
    reserved = [w.split("$", 1)[1] for w in kernel_args if w.startswith("memmap=")]
    used = re.findall(rb"ramoops region (\S*)", text)
    if len(reserved) != 1 or len(used) < 2 or any(int(u, 0) != int(reserved[0], 16) for u in used):
        raise Failure(f"ramoops should use the region on the command line ({kernel_args}) in both boots, "
                      f"used {used}")
    log(f"ramoops used the reserved region {reserved[0]} in {len(used)} boots")
    m = re.search(rb"COLLECT rc=(\d+) again=(\d+) left=\[(.*)\]", text)
    if not m:
        raise Failure("boot 2 never reported on collect")
    if m.group(1) != b"0" or m.group(2) != b"0":
        raise Failure(f"collect exited {m.group(1)!r}, again {m.group(2)!r}")
    if b"dmesg-" in m.group(3):
        raise Failure(f"collect left acknowledged records in /sys/fs/pstore or /var/lib/systemd/pstore: {m.group(3)!r}")
    first = re.search(rb"Collected (\d+) pstore record\(s\) to \S+: (\d+) new, 0 already there", text)
    again = re.search(rb"Collected (\d+) pstore record\(s\) to \S+: 0 new, (\d+) already there", text)
    if not first or not again or first.group(1) != again.group(2) or first.group(1) == b"0":
        raise Failure(f"collect should store each record once (the copy systemd-pstore left is the same record) "
                      f"and find them all already there the second time: {first and first.group(0)!r} / "
                      f"{again and again.group(0)!r}")
    log(f"collect: {first.group(0).decode()}; again: {again.group(0).decode()}")
    records = glob.glob(os.path.join(hdir, "pstore", "*", "*"))
    dmesg = [f for f in records if os.path.basename(f).startswith("dmesg-")]
    if not dmesg:
        raise Failure(f"the receiver holds no pstore dmesg record: {records}")
    body = b"".join(open(f, "rb").read() for f in dmesg)
    if b"Kernel panic - not syncing: sysrq triggered crash" not in body:
        raise Failure("the pstore record the receiver holds lacks the boot-1 panic")
    if b"E2E: about to panic via sysrq-c" not in body:
        raise Failure("the pstore record lacks the guest's last test line")
    # collect ran twice: the second run must not have filed anything twice
    names = [os.path.basename(f) for f in records]
    if len(names) != len(set(names)):
        raise Failure(f"a pstore record was filed twice: {records}")
    notes = [r for r in rows if r["level"] == "lastgasp" and "pstore" in r["text"]]
    if not any("panic" in r["text"] for r in notes):
        raise Failure(f"no 'lastgasp: pstore panic record' line in the host's log: {[r['text'] for r in notes]}")
    if len([r for r in notes if "arrived" in r["text"]]) != len(set(names)):
        raise Failure(f"one 'arrived' line per record expected: {[r['text'] for r in notes]}")
    nc_panic = [r for r in rows if r["level"] != "lastgasp" and r["text"].startswith("Kernel panic - not syncing")]
    if a.scenario == "pstore":
        if not nc_panic:
            raise Failure("the netconsole capture of the boot-1 panic is missing next to the pstore record")
        m = re.search(rb"\[\s*(\d+\.\d+)\] Kernel panic - not syncing", body)
        if not m or m.group(1).decode() != nc_panic[0]["ktime"]:
            raise Failure(f"the pstore panic line ({m.group(0) if m else None!r}) is not the panic netconsole "
                          f"brought ([{nc_panic[0]['ktime']}])")
        log(f"pstore and netconsole hold the same panic, [{nc_panic[0]['ktime']}] Kernel panic - not syncing")
    if a.scenario == "nicdeath":
        boot1 = "\n".join(r["text"] for r in rows)
        if "E2E: about to panic" in boot1:
            raise Failure("nicdeath: boot 1's lines reached the receiver over netconsole; the NIC was to be dead")
    log(f"pstore: the receiver holds {sorted(set(names))} with the boot-1 panic, and says so in the log: "
        f"{notes[0]['text'][:120]!r}")


if __name__ == "__main__":
    T0 = time.monotonic()
    try:
        sys.exit(main())
    except Failure as e:
        log(f"FAIL: {e}")
        log(f"kept for a look: {WORK} (serial.log: the guest's console; logs/: the receiver's; receiver.out)")
        sys.exit(1)
