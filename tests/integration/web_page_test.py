#!/usr/bin/env python3
"""The page at / in a real headless Chromium (Debian's chromium and chromedriver,
driven over WebDriver from the standard library): against the real daemon, it
lists the hosts that sent, sorts them, shows a host's console live with the
panic highlighted and the gap marked, and shows a sender's markup as text.

Usage: web_page_test.py RECEIVER_BINARY [SCREENSHOT.png]
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from ports import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MARKUP = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"


def eventually(probe, what, timeout=10.0):
    """PROBE's first true answer within TIMEOUT seconds; fails naming WHAT otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


class Browser:
    """One chromedriver and one headless Chromium session."""

    def __init__(self, scratch):
        port = free_port()
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        eventually(self._ready, "chromedriver answers")
        options = {"binary": CHROMIUM,
                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--window-size=1200,900", f"--user-data-dir={scratch}/chromium"]}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = self.base + "/session/" + http("POST", self.base + "/session", caps)["value"]["sessionId"]

    def _ready(self):
        try:
            return http("GET", self.base + "/status")["value"]["ready"]
        except OSError:
            return False

    def open(self, url):
        http("POST", self.session + "/url", {"url": url})

    def run(self, script):
        return http("POST", self.session + "/execute/sync", {"script": script, "args": []})["value"]

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(http("GET", self.session + "/screenshot")["value"]))

    def close(self):
        try:
            http("DELETE", self.session)
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=10)


PAGE_STATE = """
const cells = [...document.querySelectorAll('#hosts tbody tr')].map(r => [...r.cells].map(c => c.textContent));
const lines = [...document.querySelectorAll('#lines .line')];
const panic = document.querySelector('#lines .line.panic');
return {
  rows: cells,
  lines: lines.map(l => l.querySelector('.text').textContent),
  gaps: document.querySelectorAll('#lines .line.gap').length,
  panic: panic ? panic.querySelector('.text').textContent : null,
  panicBackground: panic ? getComputedStyle(panic).backgroundColor : null,
  elementsFromSenders: document.querySelectorAll('#lines img, #lines script, #hosts img, #hosts script').length,
  title: document.title,
};
"""


def send(source, lines, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        for line in lines:
            s.sendto(line.encode() + b"\n", ("127.0.0.1", port))


def record(prio, seq, text):
    return f"{prio},{seq},{seq * 1000},-;{text}"


def main():
    receiver = sys.argv[1]
    screenshot = sys.argv[2] if len(sys.argv) > 2 else None
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"{tool} is missing: apt-get install chromium chromium-driver (.ci/install-deps)")
    scratch = tempfile.mkdtemp(prefix="lastgasp-web-")
    udp, web = free_port(), free_port()
    config = os.path.join(scratch, "receiver.toml")
    with open(config, "w") as f:
        f.write(f'log_dir = "{scratch}/logs"\nlisten = ["127.0.0.1:{udp}"]\nhttp_listen = "127.0.0.1:{web}"\n')
    os.mkdir(os.path.join(scratch, "logs"))
    daemon = subprocess.Popen([receiver, "--config", config], stderr=subprocess.PIPE, text=True)
    browser = None
    try:
        eventually(lambda: "for /," in daemon.stderr.readline(), "the receiver serves HTTP")
        send("127.0.0.51", [record(6, 1, "booting"), record(6, 2, MARKUP), record(6, 5, "after a gap"),
                            record(0, 6, "Kernel panic - not syncing: Attempted to kill init!")], udp)
        send("127.0.0.52", [record(6, 1, "a quiet host")], udp)
        eventually(lambda: len(http("GET", f"http://127.0.0.1:{web}/api/hosts")) == 2, "/api/hosts has both hosts")

        with urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=10) as reply:
            assert reply.headers["Content-Type"].startswith("text/html"), reply.headers
            page = reply.read().decode()
        for outside in ("http:", "https:", "src=", "<link", "@import", "url("):
            assert outside not in page, f"the page is self-contained: it has {outside!r}"

        browser = Browser(scratch)
        browser.open(f"http://127.0.0.1:{web}/?host=127.0.0.51")
        state = eventually(lambda: (lambda s: s if len(s["rows"]) == 2 and s["panic"] else None)(
            browser.run(PAGE_STATE)), "the table and the console filled")
        hosts = [row[0] for row in state["rows"]]
        assert hosts == ["127.0.0.51", "127.0.0.52"], state
        assert state["rows"][0][1] == "panicked", state
        assert MARKUP in state["lines"], f"the sender's markup is shown as text: {state}"
        assert state["elementsFromSenders"] == 0, state
        assert state["title"] == "lastgasp: fleet", f"no sender's script ran: {state}"
        assert state["panic"].startswith("lastgasp: panic Kernel panic"), state
        assert state["panicBackground"] not in ("rgba(0, 0, 0, 0)", "transparent"), state
        assert state["gaps"] == 1, state
        assert "a quiet host" not in state["lines"], "only the chosen host's console"

        # Live: a record sent now appears without a reload.
        sent = time.monotonic()
        send("127.0.0.51", [record(6, 7, "live <b>now</b>")], udp)
        eventually(lambda: "live <b>now</b>" in browser.run(PAGE_STATE)["lines"], "a record appears live")
        print(f"a record appeared in the page {time.monotonic() - sent:.3f} s after it was sent")

        # Sortable: panics first, most first; a second click, fewest first.
        browser.run("document.querySelector('th[data-key=panics]').click();")
        assert [r[0] for r in browser.run(PAGE_STATE)["rows"]] == ["127.0.0.51", "127.0.0.52"]
        browser.run("document.querySelector('th[data-key=panics]').click();")
        assert [r[0] for r in browser.run(PAGE_STATE)["rows"]] == ["127.0.0.52", "127.0.0.51"]
        if screenshot:
            browser.run("document.querySelector('th[data-key=host]').click();")
            browser.screenshot(screenshot)
        print("ok: the page lists the fleet, sorts it, streams a console live, and escapes what senders sent")
    finally:
        if browser:
            browser.close()
        daemon.terminate()
        daemon.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
