#!/usr/bin/env python3
"""Checks of the Debian packages and what they carry, run by ctest (tests/dist).

usage: dist_test.py WORK_DIR STEP [ARGS...]

WORK_DIR is under the build directory; the "package" step fills it and every
other step reads it:
  WORK_DIR/pkg/*.deb      the two packages, built by cpack from the build tree
  WORK_DIR/root           both packages extracted (dpkg -x), nothing else
  WORK_DIR/control/NAME   each package's control files (dpkg-deb -e)
  WORK_DIR/vroot          root plus the host's systemd units and /bin/kill, for
                          systemd-analyze --root (it resolves sysinit.target and
                          checks that ExecStart=/ExecReload= binaries exist there)
"""
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys

UNITS = ["lastgasp-receiver.service", "lastgasp-receiver.socket", "lastgasp-receiver-http.socket"]
SETUP_UNITS = ["lastgasp-setup.service", "lastgasp-collect.service", "lastgasp-watch.service"]
PACKAGES = ["lastgasp-receiver", "lastgasp-setup"]

# Package -> the files it must carry (and no other package may).
EXPECTED_FILES = {
    "lastgasp-receiver": [
        "usr/bin/lastgasp-receiver",
        "lib/systemd/system/lastgasp-receiver.service",
        "lib/systemd/system/lastgasp-receiver.socket",
        "lib/systemd/system/lastgasp-receiver-http.socket",
        "usr/lib/sysusers.d/lastgasp.conf",
        "usr/share/man/man8/lastgasp-receiver.8.gz",
        "usr/share/man/man5/lastgasp-receiver.toml.5.gz",
        "usr/share/bash-completion/completions/lastgasp-receiver",
        "etc/lnav/formats/lastgasp/lastgasp.json",
        "etc/lastgasp/receiver.toml",
        "usr/share/doc/lastgasp-receiver/copyright",
        "usr/share/lintian/overrides/lastgasp-receiver",
        "usr/share/doc/lastgasp-receiver/changelog.Debian.gz",
        "usr/share/doc/lastgasp-receiver/examples/receiver.toml",
        "usr/share/doc/lastgasp-receiver/examples/central.conf",
        "usr/share/lastgasp/prometheus/lastgasp.rules.yml",
    ],
    "lastgasp-setup": [
        "usr/sbin/lastgasp-setup",
        "usr/lib/systemd/system/lastgasp-setup.service",
        "usr/lib/systemd/system/lastgasp-collect.service",
        "usr/lib/systemd/system/lastgasp-watch.service",
        "usr/share/man/man8/lastgasp-setup.8.gz",
        "usr/share/bash-completion/completions/lastgasp-setup",
        "usr/share/doc/lastgasp-setup/copyright",
        "usr/share/lintian/overrides/lastgasp-setup",
        "usr/share/doc/lastgasp-setup/changelog.Debian.gz",
        "usr/share/doc/lastgasp-setup/examples/sender.toml",
    ],
}
CONFFILES = {
    "lastgasp-receiver": ["/etc/lastgasp/receiver.toml", "/etc/lnav/formats/lastgasp/lastgasp.json"],
    "lastgasp-setup": [],
}
SCRIPTS = {"lastgasp-receiver": ["postinst", "prerm", "postrm"], "lastgasp-setup": ["postinst", "postrm"]}


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(cmd, **kw):
    print("+ " + " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def debs(work):
    """Package name -> its .deb."""
    found = {os.path.basename(p).split("_")[0]: p for p in glob.glob(os.path.join(work, "pkg", "*.deb"))}
    if sorted(found) != PACKAGES:
        fail(f"expected the packages {PACKAGES}, found {sorted(found)}")
    return found


def step_package(work, cpack_config, source_dir):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # The README's command.
    r = run(["cpack", "--config", cpack_config, "-B", os.path.join(work, "pkg")])
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        fail("cpack failed")
    root, vroot = (os.path.join(work, d) for d in ("root", "vroot"))
    os.makedirs(os.path.join(work, "control"))
    for name, deb in debs(work).items():
        for cmd in (["dpkg-deb", "-x", deb, root], ["dpkg-deb", "-e", deb, os.path.join(work, "control", name)]):
            r = run(cmd)
            if r.returncode != 0:
                fail(r.stderr)
    # The root systemd-analyze sees: the packages over the host's own units.
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
    print(f"packages: {sorted(debs(work).values())}")


def deb_field(work, package, field):
    with open(os.path.join(work, "control", package, "control")) as f:
        m = re.search(rf"^{field}: (.*)$", f.read(), re.M)
    return m.group(1) if m else None


def package_files(deb):
    """The regular files and links a .deb holds, as paths without the leading ./"""
    r = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True)
    r = subprocess.run(["tar", "-t"], input=r.stdout, capture_output=True, check=True)
    return {p[2:] for p in r.stdout.decode().split() if not p.endswith("/")}


def check_package(work, name, deb, source_dir):
    root = os.path.join(work, "root")
    control = os.path.join(work, "control", name)
    files = package_files(deb)
    missing = [p for p in EXPECTED_FILES[name] if p not in files]
    if missing:
        fail(f"missing from {name}: {missing}")
    for other, expected in EXPECTED_FILES.items():
        strays = [p for p in expected if other != name and p in files]
        if strays:
            fail(f"{name} carries {other}'s files: {strays}")
    # Conffiles: the ones in /etc, exactly.
    conffiles_path = os.path.join(control, "conffiles")
    conffiles = open(conffiles_path).read().split() if os.path.exists(conffiles_path) else []
    if sorted(conffiles) != sorted(CONFFILES[name]):
        fail(f"{name}: conffiles {conffiles}, expected {CONFFILES[name]}")
    for path in files:
        if path.startswith("etc/") and "/" + path not in conffiles:
            fail(f"{name}: /{path} is in /etc but not a conffile")
    # Maintainer scripts parse, and are executable.
    for script in SCRIPTS[name]:
        path = os.path.join(control, script)
        if not os.access(path, os.X_OK):
            fail(f"{name}: {script} is missing or not executable")
        r = run(["sh", "-n", path])
        if r.returncode != 0:
            fail(f"{name} {script}: {r.stderr}")
    # Control fields.
    if deb_field(work, name, "Package") != name or deb_field(work, name, "Source") != "lastgasp":
        fail(f"{name}: Package or Source field wrong")
    depends = deb_field(work, name, "Depends") or ""
    for lib in ("libc6",) + (("libsystemd0",) if name == "lastgasp-receiver" else ()):
        if lib not in depends:
            fail(f"{name}: Depends lacks {lib} (shlibdeps): {depends!r}")
    # The changelog's newest entry is this package's version.
    with gzip.open(os.path.join(root, f"usr/share/doc/{name}/changelog.Debian.gz"), "rt") as f:
        m = re.match(r"lastgasp \(([^)]+)\)", f.read())
    if not m or m.group(1) != deb_field(work, name, "Version"):
        fail(f"{name}: changelog.Debian.gz starts with {m.group(1) if m else None}, "
             f"the package is {deb_field(work, name, 'Version')}")
    with open(os.path.join(root, f"usr/share/doc/{name}/copyright")) as f:
        if "License: Apache-2.0" not in f.read():
            fail(f"{name}: copyright does not name Apache-2.0")
    r = run(["dpkg-deb", "-I", deb])
    print(r.stdout)


def step_files(work, source_dir):
    root = os.path.join(work, "root")
    for name, deb in debs(work).items():
        check_package(work, name, deb, source_dir)
    for binary in ("usr/bin/lastgasp-receiver", "usr/sbin/lastgasp-setup"):
        if not os.access(os.path.join(root, binary), os.X_OK):
            fail(f"{binary} is not executable")
    # Nothing outside Debian's places, nothing from the build machine.
    allowed = ("etc/lastgasp/", "etc/lnav/", "lib/systemd/system/", "usr/lib/systemd/system/", "usr/bin/",
               "usr/sbin/", "usr/lib/sysusers.d/", "usr/share/man/", "usr/share/bash-completion/",
               "usr/share/doc/lastgasp-receiver/", "usr/share/doc/lastgasp-setup/", "usr/share/lastgasp/",
               "usr/share/lintian/overrides/")
    for dirpath, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if not rel.startswith(allowed):
                fail(f"unexpected file in the packages: /{rel}")
    # The /etc config is the documented one: every key at its default.
    with open(os.path.join(root, "etc/lastgasp/receiver.toml")) as a, \
         open(os.path.join(source_dir, "config/receiver.toml")) as b:
        if a.read() != b.read():
            fail("/etc/lastgasp/receiver.toml differs from config/receiver.toml")
    with open(os.path.join(root, "usr/share/doc/lastgasp-setup/copyright")) as a, \
         open(os.path.join(source_dir, "LICENSE")) as b:
        if "Apache License" not in b.read() or "Apache-2.0" not in a.read():
            fail("LICENSE and debian/copyright disagree")
    # The sysusers line names the user the unit runs as.
    with open(os.path.join(root, "usr/lib/sysusers.d/lastgasp.conf")) as f:
        if not re.search(r"^u lastgasp\s", f.read(), re.M):
            fail("sysusers.d/lastgasp.conf does not create the lastgasp user")
    with open(os.path.join(root, "lib/systemd/system/lastgasp-receiver.service")) as f:
        unit = f.read()
    for line in ("User=lastgasp", "ExecStart=/usr/bin/lastgasp-receiver", "LogsDirectory=lastgasp"):
        if not re.search(rf"^{re.escape(line)}$", unit, re.M):
            fail(f"lastgasp-receiver.service lacks {line}")
    # The setup units run the packaged binary.
    for unit in SETUP_UNITS:
        with open(os.path.join(root, "usr/lib/systemd/system", unit)) as f:
            text = f.read()
        if "%LASTGASP_SETUP%" in text or not re.search(r"^ExecStart=/usr/sbin/lastgasp-setup ", text, re.M):
            fail(f"{unit}: ExecStart is not /usr/sbin/lastgasp-setup")
    print("ok: files, conffiles, maintainer scripts, control, copyright, changelog")


def step_lintian(work):
    """lintian, Debian's own checker: no error and no warning on either package."""
    if not shutil.which("lintian"):
        fail("lintian is not installed (.ci/install-deps installs it)")
    # An override is an explanation: each one says why, in a comment above it.
    for path in glob.glob(os.path.join(work, "root", "usr/share/lintian/overrides/*")):
        previous = ""
        for line in open(path).read().splitlines():
            if line.strip() and not line.startswith("#") and not previous.startswith("#"):
                fail(f"{path}: the override {line!r} has no comment saying why")
            previous = line
    r = run(["lintian", "--fail-on", "error,warning", "--display-info", "--tag-display-limit", "0"]
            + sorted(debs(work).values()))
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        fail(f"lintian: exit {r.returncode}")
    if re.search(r"^[EW]: ", r.stdout, re.M):
        fail("lintian reports errors or warnings")
    print("ok: lintian")


def step_install(work):
    """dpkg -i, a reinstall (an upgrade), -r and -P of both packages, with their real
    maintainer scripts, in a throwaway copy of this machine: an overlay of / in a
    mount namespace of its own, whose writes go to a tmpfs that vanishes with it."""
    in_own_mount_namespace(work, "install-in-namespace")


def in_own_mount_namespace(work, step, *args):
    """Runs STEP in a mount namespace of its own, where its mounts vanish with it."""
    if os.geteuid() != 0:
        fail("run as root: it mounts an overlay in a mount namespace of its own")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, __file__, work, step, *args],
                       text=True)
    if r.returncode != 0:
        fail(f"{step}: exit {r.returncode}")


def scratch_root(work):
    """A throwaway copy of this machine: an overlay of / whose writes go to a tmpfs, with
    both packages in /debs and neither installed. Only in a mount namespace of its own."""
    scratch = os.path.join(work, "scratch")
    os.makedirs(scratch, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", scratch], check=True)
    upper, workdir, root = (os.path.join(scratch, d) for d in ("upper", "work", "root"))
    for d in (upper, workdir, root):
        os.makedirs(d)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={upper},workdir={workdir}",
                    root], check=True)
    # The installed programs see a /proc, as on a real system (AddressSanitizer needs it too).
    subprocess.run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")], check=True)
    os.makedirs(os.path.join(root, "debs"))
    for name, deb in debs(work).items():
        shutil.copy(deb, os.path.join(root, "debs", name + ".deb"))
    for name in PACKAGES:
        if chroot(root, ["dpkg-query", "-W", name], check=False).returncode == 0:
            fail(f"{name} is installed on this machine already: the scratch root would not start clean")
    return root


def step_install_in_namespace(work):
    root = scratch_root(work)

    def path(p):
        return os.path.join(root, p.lstrip("/"))

    def link(p):
        return os.readlink(path(p)) if os.path.islink(path(p)) else None

    wants = {
        "/etc/systemd/system/sockets.target.wants/lastgasp-receiver.socket": "/lib/systemd/system/lastgasp-receiver.socket",
        "/etc/systemd/system/sockets.target.wants/lastgasp-receiver-http.socket":
            "/lib/systemd/system/lastgasp-receiver-http.socket",
        "/etc/systemd/system/multi-user.target.wants/lastgasp-receiver.service":
            "/lib/systemd/system/lastgasp-receiver.service",
    }
    # Install: the user and group, the receiver's units enabled; lastgasp-setup's not.
    chroot(root, ["dpkg", "-i", "/debs/lastgasp-receiver.deb", "/debs/lastgasp-setup.deb"])
    for name in PACKAGES:
        status = chroot(root, ["dpkg-query", "-W", "-f", "${Status}", name]).stdout
        if status != "install ok installed":
            fail(f"{name}: {status}")
    chroot(root, ["getent", "passwd", "lastgasp"])
    chroot(root, ["getent", "group", "lastgasp"])
    for wanted, target in wants.items():
        if link(wanted) != target:
            fail(f"after install, {wanted} -> {link(wanted)}, expected {target}")
    strays = glob.glob(path("/etc/systemd/system/*/lastgasp-setup.service")) + \
        glob.glob(path("/etc/systemd/system/*/lastgasp-watch.service"))
    if strays:
        fail(f"installing lastgasp-setup enabled its units: {strays}")
    for cmd in (["lastgasp-receiver", "--version"], ["lastgasp-setup", "--version"]):
        out = chroot(root, cmd).stdout
        if not re.search(r"\b0\.\d+\.\d+\b", out):
            fail(f"{' '.join(cmd)}: {out!r}")
    chroot(root, ["lastgasp-receiver", "check-config", "/etc/lastgasp/receiver.toml"])
    print("ok: installed; lastgasp user and group; the receiver's units enabled, lastgasp-setup's not")

    # An upgrade keeps an administrator's choice: a unit disabled stays disabled.
    chroot(root, ["systemctl", "disable", "lastgasp-receiver-http.socket"])
    chroot(root, ["dpkg", "-i", "/debs/lastgasp-receiver.deb"])
    http = "/etc/systemd/system/sockets.target.wants/lastgasp-receiver-http.socket"
    if link(http) is not None:
        fail("the upgrade enabled lastgasp-receiver-http.socket again, which the administrator had disabled")
    for wanted in set(wants) - {http}:
        if link(wanted) != wants[wanted]:
            fail(f"after the upgrade, {wanted} -> {link(wanted)}")
    print("ok: upgrade; a disabled unit stays disabled")

    # Remove keeps the conffiles and masks the units; purge takes both away.
    with open(path("/etc/lastgasp/receiver.toml"), "a") as f:
        f.write("# an administrator's edit\n")
    chroot(root, ["dpkg", "-r", "lastgasp-receiver", "lastgasp-setup"])
    if os.path.exists(path("/usr/bin/lastgasp-receiver")) or os.path.exists(path("/usr/sbin/lastgasp-setup")):
        fail("dpkg -r left the binaries")
    if "an administrator's edit" not in open(path("/etc/lastgasp/receiver.toml")).read():
        fail("dpkg -r did not keep the edited conffile")
    chroot(root, ["dpkg", "-P", "lastgasp-receiver", "lastgasp-setup"])
    left = [p for p in ["/etc/lastgasp/receiver.toml", "/etc/systemd/system/lastgasp-receiver.service",
                        "/etc/systemd/system/lastgasp-receiver.socket"] + list(wants)
            if os.path.lexists(path(p))]
    if left:
        fail(f"left after purge: {left}")
    print("ok: remove keeps the conffiles; purge leaves no unit link, mask or conffile")


def step_boot(work, check_script):
    """Both packages under a real systemd as PID 1: the scratch root, with them installed,
    booted as a container (systemd-nspawn, a network of its own), where CHECK_SCRIPT runs
    as a unit after the receiver's and writes its findings; then the container powers off."""
    in_own_mount_namespace(work, "boot-in-namespace", check_script)


def step_boot_in_namespace(work, check_script):
    root = scratch_root(work)
    chroot(root, ["dpkg", "-i", "/debs/lastgasp-receiver.deb", "/debs/lastgasp-setup.deb"])
    subprocess.run(["umount", os.path.join(root, "proc")], check=True)  # the container mounts its own
    # A machine of its own: with this machine's id, the container's journal would be this one's.
    with open(os.path.join(root, "etc/machine-id"), "w") as f:
        f.write(run(["systemd-id128", "new"]).stdout)
    shutil.copy(check_script, os.path.join(root, "usr/local/sbin/lastgasp-boot-check"))
    unit = os.path.join(root, "etc/systemd/system/lastgasp-boot-check.service")
    with open(unit, "w") as f:
        f.write("[Unit]\nDescription=lastgasp: check the packages under systemd, then power off\n"
                "After=lastgasp-receiver.service\n\n"
                "[Service]\nType=oneshot\nExecStart=/usr/local/sbin/lastgasp-boot-check\n\n"
                "[Install]\nWantedBy=multi-user.target\n")
    chroot(root, ["systemctl", "enable", "lastgasp-boot-check.service"])
    env = dict(os.environ)
    # A cgroup2 hierarchy for the container even where this machine mounts the hybrid v1 layout
    # (as a Docker host does); where v2 is the default, as on a fresh bookworm, this is it anyway.
    env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
    console = os.path.join(work, "boot-console.log")
    with open(console, "w") as out:
        # timeout sends SIGTERM first: nspawn then asks the container's systemd to power off.
        r = subprocess.run(["timeout", "-k", "15", "240", "systemd-nspawn", "--quiet", "--directory", root,
                            "--boot", "--private-network", "--register=no", "--keep-unit"],
                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    result_path = os.path.join(root, "root/boot-check.result")
    result = open(result_path).read() if os.path.exists(result_path) else ""
    print(result, end="")
    if not result.rstrip().endswith("PASS"):
        print("--- the container's console, last 60 lines")
        print("".join(open(console).readlines()[-60:]), end="")
        fail(f"the checks under systemd did not pass (systemd-nspawn exit {r.returncode})")
    print(f"ok: under systemd, every check of {os.path.basename(check_script)} passed")


def chroot(root, cmd, check=True):
    r = run(["chroot", root] + cmd)
    print(r.stdout + r.stderr, end="")
    if check and r.returncode != 0:
        fail(f"{' '.join(cmd)}: exit {r.returncode}")
    return r


def analyze_env(work):
    env = dict(os.environ)
    # Documentation=man:... is checked with man(1): look in the package.
    env["MANPATH"] = os.path.join(work, "vroot", "usr/share/man")
    env["SYSTEMD_LOG_COLOR"] = "0"
    return env


def step_verify(work):
    vroot = os.path.join(work, "vroot")
    r = run(["systemd-analyze", "verify", f"--root={vroot}"] + UNITS + SETUP_UNITS, env=analyze_env(work), cwd=vroot)
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


def step_security(work, unit, limit):
    """systemd-analyze security's exposure score of UNIT, as packaged, at most LIMIT."""
    vroot = os.path.join(work, "vroot")
    limit = float(limit)
    r = run(["systemd-analyze", "security", "--offline=yes", f"--root={vroot}",
             f"--threshold={int(round(limit * 10))}", "--no-pager", unit],
            env=analyze_env(work), cwd=vroot)
    out = r.stdout + r.stderr
    print(out)
    m = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", out)
    if not m:
        fail("no 'Overall exposure level' line")
    score = float(m.group(1))
    if score > limit or r.returncode != 0:
        fail(f"exposure {score} (exit {r.returncode}), limit {limit}")
    print(f"ok: {unit}: exposure {score} <= {limit}")


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
    with open(os.path.join(root, "usr/share/doc/lastgasp-receiver/examples/receiver.toml")) as f:
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
        (["lastgasp-receiver", "tail", "--"], {"--follow", "--host", "--priority", "--grep", "--since", "--until",
                                               "--output", "--color"}),
        (["lastgasp-receiver", "tail", "-p", "e"], {"emerg", "err"}),
        (["lastgasp-receiver", "tail", "--since", "y"], {"yesterday"}),
        (["lastgasp-receiver", "tail", "-o", ""], {"short", "short-iso", "short-precise", "short-iso-precise", "cat",
                                                   "json", "json-pretty"}),
        (["lastgasp-receiver", "hosts", "-o", "json"], {"json", "json-pretty"}),
        (["lastgasp-receiver", "tail", "--r"], {"--reverse"}),
        # The root's --log-dir before the subcommand: still that subcommand's options.
        (["lastgasp-receiver", "--log-dir", log_dir, "tail", "--"], {"--follow", "--reverse", "--output"}),
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
        "lnav": step_lnav, "cli-coverage": step_cli_coverage, "lintian": step_lintian,
        "install": step_install, "install-in-namespace": step_install_in_namespace,
        "security-collect": step_security, "boot": step_boot, "boot-in-namespace": step_boot_in_namespace,
    }
    steps[step](work, *args)


if __name__ == "__main__":
    main()
