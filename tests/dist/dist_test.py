#!/usr/bin/env python3
"""Checks of the Debian package and what it carries, run by ctest (tests/dist).

usage: dist_test.py WORK_DIR STEP [ARGS...]

WORK_DIR is under the build directory; the "package" step fills it and every
other step reads it:
  WORK_DIR/pkg/*.deb    the package, built by cpack from the build tree
  WORK_DIR/root         the package extracted (dpkg -x), nothing else
  WORK_DIR/control      its control files (dpkg-deb -e)
  WORK_DIR/vroot        root plus the host's systemd units and /bin/kill, for
                        systemd-analyze --root (it resolves sysinit.target and
                        checks that ExecStart=/ExecReload= binaries exist there)
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

UNITS = ["lastgasp-receiver.service", "lastgasp-receiver.socket", "lastgasp-receiver-http.socket"]

EXPECTED_FILES = [
    "usr/bin/lastgasp-receiver",
    "usr/sbin/lastgasp-setup",
    "lib/systemd/system/lastgasp-receiver.service",
    "lib/systemd/system/lastgasp-receiver.socket",
    "lib/systemd/system/lastgasp-receiver-http.socket",
    "usr/lib/sysusers.d/lastgasp.conf",
    "usr/share/man/man8/lastgasp-receiver.8.gz",
    "usr/share/man/man8/lastgasp-setup.8.gz",
    "usr/share/man/man5/lastgasp-receiver.toml.5.gz",
    "usr/share/bash-completion/completions/lastgasp-receiver",
    "usr/share/bash-completion/completions/lastgasp-setup",
    "etc/lnav/formats/lastgasp/lastgasp.json",
    "etc/lastgasp/receiver.toml",
    "usr/share/doc/lastgasp/examples/receiver.toml",
    "usr/share/doc/lastgasp/examples/sender.toml",
    "usr/share/lastgasp/prometheus/lastgasp.rules.yml",
]
CONFFILES = ["/etc/lastgasp/receiver.toml", "/etc/lnav/formats/lastgasp/lastgasp.json"]


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(cmd, **kw):
    print("+ " + " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def step_package(work, cpack_config, source_dir):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    r = run(["cpack", "-G", "DEB", "--config", cpack_config, "-B", os.path.join(work, "pkg")])
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        fail("cpack failed")
    debs = glob.glob(os.path.join(work, "pkg", "*.deb"))
    if len(debs) != 1:
        fail(f"expected one .deb, found {debs}")
    root, control, vroot = (os.path.join(work, d) for d in ("root", "control", "vroot"))
    for cmd in (["dpkg-deb", "-x", debs[0], root], ["dpkg-deb", "-e", debs[0], control]):
        r = run(cmd)
        if r.returncode != 0:
            fail(r.stderr)
    # The root systemd-analyze sees: the package over the host's own units.
    shutil.copytree(root, vroot, symlinks=True)
    unit_dir = os.path.join(vroot, "lib/systemd/system")
    for src in glob.glob("/lib/systemd/system/*"):
        dst = os.path.join(unit_dir, os.path.basename(src))
        if not os.path.lexists(dst):
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
    os.makedirs(os.path.join(vroot, "bin"), exist_ok=True)
    shutil.copy2(shutil.which("kill", path="/bin:/usr/bin"), os.path.join(vroot, "bin/kill"))
    print(f"package: {debs[0]}")


def deb_field(work, field):
    with open(os.path.join(work, "control", "control")) as f:
        m = re.search(rf"^{field}: (.*)$", f.read(), re.M)
    return m.group(1) if m else None


def step_files(work, source_dir):
    root = os.path.join(work, "root")
    missing = [p for p in EXPECTED_FILES if not os.path.isfile(os.path.join(root, p))]
    if missing:
        fail(f"missing from the package: {missing}")
    for binary in ("usr/bin/lastgasp-receiver", "usr/sbin/lastgasp-setup"):
        if not os.access(os.path.join(root, binary), os.X_OK):
            fail(f"{binary} is not executable")
    # Nothing outside Debian's places, nothing from the build machine.
    allowed = ("etc/lastgasp/", "etc/lnav/", "lib/systemd/system/", "usr/bin/", "usr/sbin/",
               "usr/lib/sysusers.d/", "usr/share/man/", "usr/share/bash-completion/",
               "usr/share/doc/lastgasp/", "usr/share/lastgasp/")
    for dirpath, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if not rel.startswith(allowed):
                fail(f"unexpected file in the package: /{rel}")
    # Conffiles: the ones in /etc, exactly, and each one in the package.
    with open(os.path.join(work, "control", "conffiles")) as f:
        conffiles = f.read().split()
    if sorted(conffiles) != sorted(CONFFILES):
        fail(f"conffiles {conffiles}, expected {CONFFILES}")
    for dirpath, _, files in os.walk(os.path.join(root, "etc")):
        for name in files:
            path = "/" + os.path.relpath(os.path.join(dirpath, name), root)
            if path not in conffiles:
                fail(f"{path} is in /etc but not a conffile")
    # The /etc config is the documented one: every key at its default.
    with open(os.path.join(root, "etc/lastgasp/receiver.toml")) as a, \
         open(os.path.join(source_dir, "config/receiver.toml")) as b:
        if a.read() != b.read():
            fail("/etc/lastgasp/receiver.toml differs from config/receiver.toml")
    # Maintainer scripts parse, and are executable.
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(work, "control", script)
        if not os.access(path, os.X_OK):
            fail(f"{script} is not executable")
        r = run(["sh", "-n", path])
        if r.returncode != 0:
            fail(f"{script}: {r.stderr}")
    # Control fields.
    if deb_field(work, "Package") != "lastgasp":
        fail("Package is not lastgasp")
    depends = deb_field(work, "Depends") or ""
    for lib in ("libc6", "libsystemd0"):
        if lib not in depends:
            fail(f"Depends lacks {lib} (shlibdeps): {depends!r}")
    # The sysusers line names the user the unit runs as.
    with open(os.path.join(root, "usr/lib/sysusers.d/lastgasp.conf")) as f:
        if not re.search(r"^u lastgasp\s", f.read(), re.M):
            fail("sysusers.d/lastgasp.conf does not create the lastgasp user")
    with open(os.path.join(root, "lib/systemd/system/lastgasp-receiver.service")) as f:
        unit = f.read()
    for line in ("User=lastgasp", "ExecStart=/usr/bin/lastgasp-receiver", "LogsDirectory=lastgasp"):
        if not re.search(rf"^{re.escape(line)}$", unit, re.M):
            fail(f"lastgasp-receiver.service lacks {line}")
    r = run(["dpkg-deb", "-I", glob.glob(os.path.join(work, "pkg", "*.deb"))[0]])
    print(r.stdout)
    print("ok: files, conffiles, maintainer scripts, control")


def analyze_env(work):
    env = dict(os.environ)
    # Documentation=man:... is checked with man(1): look in the package.
    env["MANPATH"] = os.path.join(work, "vroot", "usr/share/man")
    env["SYSTEMD_LOG_COLOR"] = "0"
    return env


def step_verify(work):
    vroot = os.path.join(work, "vroot")
    r = run(["systemd-analyze", "verify", f"--root={vroot}"] + UNITS, env=analyze_env(work), cwd=vroot)
    out = (r.stdout + r.stderr).strip()
    print(out)
    if r.returncode != 0 or out:
        fail(f"systemd-analyze verify: exit {r.returncode}, output above (none is expected)")
    print("ok: systemd-analyze verify, no warnings")


def step_verify_setup_unit(work, source_dir):
    """The units lastgasp-setup writes to /etc/systemd/system, with its path filled in."""
    templates = [p for p in sorted(glob.glob(os.path.join(source_dir, "dist", "*.service")))
                 if "%LASTGASP_SETUP%" in open(p).read()]
    if not templates:
        fail(f"no lastgasp-setup unit templates (%LASTGASP_SETUP%) in {source_dir}/dist")
    vroot = os.path.join(work, "vroot")
    etc = os.path.join(vroot, "etc/systemd/system")
    os.makedirs(etc, exist_ok=True)
    names = []
    for template in templates:
        with open(template) as f:
            text = f.read().replace("%LASTGASP_SETUP%", "/usr/sbin/lastgasp-setup")
        names.append(os.path.basename(template))
        with open(os.path.join(etc, names[-1]), "w") as f:
            f.write(text)
    try:
        r = run(["systemd-analyze", "verify", f"--root={vroot}"] + names, env=analyze_env(work), cwd=vroot)
    finally:
        for name in names:
            os.remove(os.path.join(etc, name))
    out = (r.stdout + r.stderr).strip()
    print(out)
    if r.returncode != 0 or out:
        fail(f"systemd-analyze verify {' '.join(names)}: exit {r.returncode}")
    print(f"ok: {', '.join(names)} as lastgasp-setup installs them")


def step_security(work, limit):
    vroot = os.path.join(work, "vroot")
    limit = float(limit)
    r = run(["systemd-analyze", "security", "--offline=yes", f"--root={vroot}",
             f"--threshold={int(round(limit * 10))}", "--no-pager", "lastgasp-receiver.service"],
            env=analyze_env(work), cwd=vroot)
    out = r.stdout + r.stderr
    print(out)
    m = re.search(r"Overall exposure level for lastgasp-receiver\.service: ([0-9.]+)", out)
    if not m:
        fail("no 'Overall exposure level' line")
    score = float(m.group(1))
    if score > limit or r.returncode != 0:
        fail(f"exposure {score} (exit {r.returncode}), limit {limit}")
    print(f"ok: exposure {score} <= {limit}")


def step_man(work):
    root = os.path.join(work, "root")
    pages = sorted(glob.glob(os.path.join(root, "usr/share/man/man*/*")))
    if len(pages) < 2:
        fail(f"man pages: {pages}")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    bad = False
    for page in pages:
        r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env=env)
        name = os.path.relpath(page, root)
        if r.returncode != 0 or r.stderr.strip() or len(r.stdout) < 200:
            print(f"{name}: exit {r.returncode}, {len(r.stdout)} bytes rendered\n{r.stderr}")
            bad = True
        else:
            print(f"ok: {name}")
    if bad:
        fail("man pages render with warnings")


def step_man_keys(work):
    """Every key of the documented receiver.toml has its entry in lastgasp-receiver.toml(5)."""
    root = os.path.join(work, "root")
    with open(os.path.join(root, "usr/share/doc/lastgasp/examples/receiver.toml")) as f:
        text = f.read()
    top = text.split("\n[", 1)[0]
    keys = re.findall(r"^([a-z_][a-z0-9_]*)\s*=", top, re.M)
    tables = re.findall(r"^\[([a-z_]+)\]", text, re.M)
    r = subprocess.run(["zcat", os.path.join(root, "usr/share/man/man5/lastgasp-receiver.toml.5.gz")],
                       capture_output=True, text=True, check=True)
    page = r.stdout
    documented = set(re.findall(r"^\.B ([a-z_][a-z0-9_]*)$", page, re.M))
    missing = [k for k in keys if k not in documented]
    missing += [f"[{t}]" for t in tables if f"[{t}]" not in page]
    if not keys:
        fail("no keys found in receiver.toml")
    if missing:
        fail(f"keys of receiver.toml not in lastgasp-receiver.toml(5): {missing}")
    print(f"ok: {len(keys)} keys and {len(tables)} tables documented")


COMPLETION_SMOKE = r'''
set -u
[ "${WITH_BASH_COMPLETION:-0}" = 1 ] && . /usr/share/bash-completion/bash_completion
. "$1"
shift
func=$(complete -p "$1" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$func" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(script, words, with_bash_completion, cwd):
    env = dict(os.environ, WITH_BASH_COMPLETION="1" if with_bash_completion else "0")
    r = subprocess.run(["bash", "-c", COMPLETION_SMOKE, "smoke", script] + words,
                       capture_output=True, text=True, env=env, cwd=cwd)
    if r.returncode != 0:
        fail(f"completing {words}: exit {r.returncode}: {r.stderr}")
    return set(r.stdout.split())


def step_completion(work):
    root = os.path.join(work, "root")
    comp_dir = os.path.join(root, "usr/share/bash-completion/completions")
    for script in sorted(glob.glob(os.path.join(comp_dir, "*"))):
        r = run(["bash", "-n", script])
        if r.returncode != 0:
            fail(f"bash -n {script}: {r.stderr}")
    script = os.path.join(comp_dir, "lastgasp-receiver")
    log_dir = os.path.join(work, "completion-logs")
    for host in ("web1", "web2", "db1"):
        os.makedirs(os.path.join(log_dir, host), exist_ok=True)
    # Both paths: the scripts' own fallback, and under bash-completion (.ci/install-deps installs it).
    if not os.path.exists("/usr/share/bash-completion/bash_completion"):
        fail("bash-completion is not installed (.ci/install-deps installs it)")
    cases = [
        (["lastgasp-receiver", ""], {"check-config", "tail", "hosts"}),
        (["lastgasp-receiver", "--"], {"--config", "--listen", "--log-dir", "--journal"}),
        (["lastgasp-receiver", "ta"], {"tail"}),
        (["lastgasp-receiver", "tail", "--"], {"--follow", "--host", "--level", "--grep", "--since", "--output", "--color"}),
        (["lastgasp-receiver", "tail", "--level", "e"], {"emerg", "err", "emerg+", "err+"}),
        (["lastgasp-receiver", "tail", "-o", ""], {"short", "json"}),
        (["lastgasp-receiver", "tail", "--color", ""], {"auto", "always", "never"}),
        (["lastgasp-receiver", "tail", "--log-dir", log_dir, "--host", "we"], {"web1", "web2"}),
        (["lastgasp-receiver", "hosts", "--"], {"--log-dir", "--json"}),
    ]
    for with_bc in (False, True):
        for words, want in cases:
            got = complete(script, words, with_bc, work)
            if not want <= got:
                fail(f"{words} (bash-completion {'on' if with_bc else 'off'}): got {sorted(got)}, "
                     f"want at least {sorted(want)}")
        got = complete(script, ["lastgasp-receiver", "tail", "--log-dir", log_dir, "--host", "we"], with_bc, work)
        if "db1" in got:
            fail("--host offered a host that does not match")
        got = complete(os.path.join(comp_dir, "lastgasp-setup"), ["lastgasp-setup", ""], with_bc, work)
        if not {"netconsole", "check"} <= got:
            fail(f"lastgasp-setup completion (bash-completion {'on' if with_bc else 'off'}): {sorted(got)}")
    print("ok: completion")


def help_of(binary, sub):
    r = subprocess.run([binary] + ([sub] if sub else []) + ["--help"], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{binary} {sub} --help: exit {r.returncode}: {r.stderr}")
    text = r.stdout
    options = set(re.findall(r"^\s+(?:-\w,)?(--[a-z][a-z0-9-]*)", text, re.M))
    shorts = set(re.findall(r"^\s+(-\w),--", text, re.M))
    subs = set()
    if "Subcommands:" in text:
        subs = set(re.findall(r"^  ([a-z][a-z0-9-]*)\s", text.split("Subcommands:", 1)[1], re.M))
    return (options | shorts) - {"--help", "-h"}, subs


def cli_coverage_problems(work, binary):
    """What the binary's --help lists that its completion or man page lacks."""
    name = os.path.basename(binary)
    root = os.path.join(work, "root")
    script = os.path.join(root, "usr/share/bash-completion/completions", name)
    (page_gz,) = glob.glob(os.path.join(root, f"usr/share/man/man8/{name}.8.gz"))
    r = subprocess.run(["zcat", page_gz], capture_output=True, text=True, check=True)
    # Plain text: \- is -, and font changes (\fB--dev\fR) are no part of a word.
    page = re.sub(r"\\f[BIRP]", "", r.stdout.replace("\\-", "-"))
    _, subs = help_of(binary, "")
    if not subs:
        fail(f"no subcommands in {name} --help")
    problems = []
    got = complete(script, [name, ""], False, work)
    problems += [f"{name} completion lacks subcommand {s}" for s in subs - got]
    for sub in [""] + sorted(subs):
        options, _ = help_of(binary, sub)
        words = [name] + ([sub] if sub else []) + ["-"]
        got = complete(script, words, False, work)
        where = f"{name} {sub}" if sub else name
        problems += [f"completion of {where} lacks {o}" for o in options - got]
        if sub:
            m = re.search(rf"^\.SS {re.escape(sub)}\b(.*?)(?=^\.S[SH] )", page, re.M | re.S)
            if not m:
                problems.append(f"{name}'s man page has no .SS {sub}")
        else:
            # lastgasp-setup's options before a subcommand are its GLOBAL OPTIONS.
            m = re.search(r"^\.SH (?:GLOBAL )?OPTIONS\n(.*?)(?=^\.SH )", page, re.M | re.S)
            if not m:
                problems.append(f"{name}'s man page has no OPTIONS section")
        section = m.group(1) if m else ""
        problems += [f"man page section for {where} lacks {o}" for o in options
                     if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", section)]
    print(f"{name}: {len(subs)} subcommands")
    return problems


def step_cli_coverage(work, *binaries):
    """Every subcommand and option each binary's --help lists is in its completion and man page."""
    problems = [p for binary in binaries for p in cli_coverage_problems(work, binary)]
    if problems:
        fail("\n  ".join(["the binaries and their docs disagree:"] + problems))
    print(f"ok: the subcommands and options of {len(binaries)} binaries are completed and documented")


def pcre_to_python(pattern):
    return re.sub(r"\(\?<(?![=!])", "(?P<", pattern)


def step_lnav(work, receiver_bin, capture, make_log):
    root = os.path.join(work, "root")
    fmt_path = os.path.join(root, "etc/lnav/formats/lastgasp/lastgasp.json")
    with open(fmt_path) as f:
        spec = json.load(f)
    (name, fmt), = [(k, v) for k, v in spec.items() if not k.startswith("$")]
    regexes = {k: re.compile(pcre_to_python(v["pattern"])) for k, v in fmt["regex"].items()}
    level_map = {lvl: re.compile(pcre_to_python(p)) for lvl, p in fmt["level"].items()}

    def lnav_level(line):
        for regex in regexes.values():
            m = regex.match(line)
            if m:
                raw = m.group(fmt["level-field"])
                for lvl, p in level_map.items():
                    if p.search(raw):
                        return lvl
                return "unknown:" + raw
        return None

    # A real log: the receiver in the build tree, fed the 6.1 panic capture.
    out_dir = os.path.join(work, "lnav")
    r = subprocess.run([sys.executable, make_log, receiver_bin, capture, out_dir],
                       capture_output=True, text=True)
    print(r.stderr)
    if r.returncode != 0:
        fail(f"make_log.py: exit {r.returncode}")
    logs = r.stdout.split()
    total = 0
    own = 0
    for log in logs:
        with open(log, encoding="utf-8", errors="surrogateescape") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                level = lnav_level(line)
                if level is None or level.startswith("unknown"):
                    fail(f"{log}:{n}: {'no regex matches' if level is None else level}: {line!r}")
                total += 1
                own += "\tlastgasp\t" in line
    if total < 100 or own == 0:
        fail(f"only {total} lines ({own} of the receiver's own) in {logs}")
    for sample in fmt.get("sample", []):
        got = lnav_level(sample["line"])
        if got is None or ("level" in sample and got != sample["level"]):
            fail(f"sample {sample['line']!r}: level {got}, expected {sample.get('level')}")
    print(f"ok: python re: {total} lines of {len(logs)} files, {own} of the receiver's own")

    lnav = shutil.which("lnav")
    if not lnav:
        fail("lnav is not installed (.ci/install-deps installs it)")
    config = os.path.join(work, "lnav-config")
    home = os.path.join(work, "lnav-home")
    shutil.rmtree(config, ignore_errors=True)
    os.makedirs(os.path.join(config, "formats", "lastgasp"))
    os.makedirs(home, exist_ok=True)
    shutil.copy(fmt_path, os.path.join(config, "formats", "lastgasp"))
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"), TERM="dumb")
    r = subprocess.run([lnav, "-I", config, "-C"], capture_output=True, text=True, env=env)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        fail("lnav -C rejects the format (its samples are checked too)")
    # One file a run: lnav drops a file whose first lines repeat another's,
    # as an incident file's context repeats console.log's.
    query = ";SELECT log_format, log_level, count(*) AS n FROM all_logs GROUP BY 1, 2"
    for log in logs:
        r = subprocess.run([lnav, "-I", config, "-n", "-c", query, "-c", ":write-csv-to -", log],
                           capture_output=True, text=True, env=env)
        print(r.stdout + r.stderr)
        counts = {}
        for row in r.stdout.splitlines()[1:]:
            parts = row.split(",")
            if len(parts) == 3:
                counts[parts[0]] = counts.get(parts[0], 0) + int(parts[2])
        with open(log, "rb") as f:
            lines = sum(1 for _ in f)
        if r.returncode != 0 or counts.get(name, 0) != lines or set(counts) != {name}:
            fail(f"lnav parsed {log} as {counts}, expected {lines} lines of {name}")
    print(f"ok: lnav reads all {total} lines as {name}")


def main():
    work, step, *args = sys.argv[1:]
    work = os.path.abspath(work)
    steps = {
        "package": step_package, "files": step_files, "verify": step_verify,
        "verify-setup-unit": step_verify_setup_unit, "security": step_security,
        "man": step_man, "man-keys": step_man_keys, "completion": step_completion,
        "lnav": step_lnav, "cli-coverage": step_cli_coverage,
    }
    steps[step](work, *args)


if __name__ == "__main__":
    main()
