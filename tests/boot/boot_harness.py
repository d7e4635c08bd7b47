"""A Debian tree with endpointd installed, booted under systemd-nspawn.

The tree (tests/boot/make-tree.sh) is copied into the run's directory, the
build is installed into the copy with `make install DESTDIR=`, and the copy
is booted with `systemd-nspawn -b --register=no --keep-unit` (PID 1 here is
not systemd, so there is no machined to register with).  Commands run inside
through nsenter(1) into the container's namespaces.  The container shares
the host's network: the API port and the model containers' published ports
are the host's loopback, as they are on a real host.

What must be at the same path for the daemon and the Engine (the state
directory, whose dialers/ the Engine bind-mounts into containers, and the
dialer binary) lives in one directory of the run, bound into the container
at its own path; the rest of the tree is the tree's own.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

# A boot takes seconds; on a loaded 2-core machine (the suites run side by
# side) one was seen to take over a minute, so the bound is generous.
BOOT_TIMEOUT_S = 180
NSPAWN = shutil.which("systemd-nspawn") or "/usr/bin/systemd-nspawn"
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"


def unit_config_path(unit_text):
    """The --config argument of the installed unit's ExecStart= line."""
    m = re.search(r"^ExecStart=\S+ --config (\S+)", unit_text, re.M)
    assert m, "the installed endpointd.service has no ExecStart= with --config"
    return m.group(1)


class Machine:
    """One booted tree; commands in it with run()."""

    def __init__(self, tree, run_dir, builddir, docker_sock, port, gpu_nodes=()):
        self.tree = tree
        self.run_dir = run_dir
        self.root = os.path.join(run_dir, "root")
        self.shared = os.path.join(run_dir, "shared")
        self.state_dir = os.path.join(self.shared, "state")
        self.dialer = os.path.join(self.shared, "bin", "endpointd-dialer")
        self.builddir = builddir
        self.docker_sock = docker_sock
        self.port = port
        self.gpu_nodes = list(gpu_nodes)  # (name, major, minor) made under /dev
        self.nspawn = None
        self.leader = None
        self.console = None

    # --- the tree -----------------------------------------------------------

    def path(self, inside):
        """The host path of a path inside the tree."""
        return os.path.join(self.root, inside.lstrip("/"))

    def install(self):
        """Copy the tree and install the build into it, as a package would."""
        subprocess.run(["cp", "-a", "--reflink=auto", self.tree, self.root], check=True)
        r = subprocess.run(["make", "-C", self.builddir, "install", "DESTDIR=" + self.root],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        with open(self.path("/lib/systemd/system/endpointd.service")) as f:
            self.unit_text = f.read()
        self.config_path = unit_config_path(self.unit_text)
        self.config_dir = os.path.dirname(self.config_path)
        # The user the unit runs as, made as systemd-sysusers makes it at boot.
        subprocess.run(["systemd-sysusers", "--root=" + self.root], check=True,
                       capture_output=True)
        # The Engine's socket is group "docker" on the host: the same gid inside.
        gid = os.stat(self.docker_sock).st_gid
        with open(self.path("/etc/group")) as f:
            groups = f.read()
        assert not re.search(rf"^[^:]*:[^:]*:{gid}:", groups, re.M), \
            f"gid {gid} of {self.docker_sock} is taken in the tree"
        with open(self.path("/etc/group"), "a") as f:
            f.write(f"docker:x:{gid}:\n")
        uid, ugid = self.user_ids("endpointd")
        os.makedirs(self.state_dir, mode=0o750)
        os.chown(self.state_dir, uid, ugid)
        os.makedirs(os.path.dirname(self.dialer))
        shutil.copy2(self.path(self.installed_dialer()), self.dialer)
        for name, major, minor in self.gpu_nodes:
            node = os.path.join(self.run_dir, "dev", name)
            os.makedirs(os.path.dirname(node), exist_ok=True)
            os.mknod(node, 0o666 | 0o020000, os.makedev(major, minor))
            os.chmod(node, 0o666)  # the service's user opens them, as on a host

    def installed_dialer(self):
        """Where make install put endpointd-dialer (inside the tree)."""
        for d in ("usr/local/libexec", "usr/libexec", "usr/lib"):
            p = os.path.join(self.root, d, "endpointd", "endpointd-dialer")
            if os.path.exists(p):
                return "/" + os.path.relpath(p, self.root)
        raise AssertionError("make install put no endpointd-dialer in the tree")

    def user_ids(self, name):
        with open(self.path("/etc/passwd")) as f:
            for line in f:
                fields = line.split(":")
                if fields[0] == name:
                    return int(fields[2]), int(fields[3])
        raise AssertionError(f"no user {name} in the tree")

    def write(self, inside, text, mode=0o644):
        p = self.path(inside)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    def copy_in(self, host_path, inside):
        p = self.path(inside)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        shutil.copy2(host_path, p)

    def remove(self, inside):
        try:
            os.unlink(self.path(inside))
        except FileNotFoundError:
            pass

    def dropin(self, unit, name, text):
        """A drop-in for unit, as `systemctl edit` makes (daemon-reload after)."""
        self.write(f"/etc/systemd/system/{unit}.d/{name}.conf", text)

    # --- the booted system --------------------------------------------------

    def boot(self):
        args = [NSPAWN, "-D", self.root, "-b", "--register=no", "--keep-unit",
                "--console=passive", "--machine=endpointd-boot",
                f"--bind={self.docker_sock}:/run/docker.sock",
                f"--bind={self.shared}"]
        for name, _, _ in self.gpu_nodes:
            args.append(f"--bind={os.path.join(self.run_dir, 'dev', name)}:/dev/{name}")
        self.console = open(os.path.join(self.run_dir, "console.log"), "w")
        self.nspawn = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.console,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while self.leader is None:
            assert self.nspawn.poll() is None, "systemd-nspawn exited: " + self.console_text()
            assert time.monotonic() < deadline, "no init in the container: " + self.console_text()
            r = subprocess.run(["pgrep", "-P", str(self.nspawn.pid)], capture_output=True,
                               text=True)
            if r.stdout.strip():
                self.leader = int(r.stdout.split()[0])
            else:
                time.sleep(0.1)
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        assert state == "running", (
            f"the system is {state!r}: "
            + self.run("systemctl", "--failed", "--no-pager", check=False).stdout)

    def console_text(self):
        with open(os.path.join(self.run_dir, "console.log")) as f:
            return f.read()[-4000:]

    def run(self, *cmd, check=True, timeout=60, input=None):
        """Run cmd inside the booted system (all its namespaces)."""
        r = subprocess.run([NSENTER, "-t", str(self.leader), "-a", "--", *cmd],
                           capture_output=True, text=True, timeout=timeout, input=input)
        if check:
            assert r.returncode == 0, f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        return r

    def systemctl(self, *args, check=True, timeout=60):
        r = self.run("systemctl", "--no-pager", *args, check=False, timeout=timeout)
        if check and r.returncode != 0:
            log = self.run("journalctl", "--no-pager", "-n", "60", "-u", "endpointd.service",
                           "-u", "endpointd.socket", check=False).stdout
            raise AssertionError(f"systemctl {' '.join(args)}: exit {r.returncode}\n"
                                 f"{r.stdout}{r.stderr}\n--- the journal:\n{log}")
        return r

    def show(self, unit, *props):
        """systemctl show's properties of unit, as a dict."""
        out = self.systemctl("show", unit, "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def main_pid(self, unit="endpointd.service"):
        return int(self.show(unit, "MainPID")["MainPID"])

    def journal(self, *args):
        """journalctl -o json records (dicts), oldest first."""
        out = self.run("journalctl", "--no-pager", "-o", "json", *args).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def journal_cursor(self):
        """Where the journal ends now (for journal("--after-cursor", c))."""
        out = self.run("journalctl", "--no-pager", "-n", "0", "--show-cursor").stdout
        m = re.search(r"-- cursor: (\S+)", out)
        return m.group(1) if m else None

    def unit_log(self, cursor=None, unit="endpointd.service"):
        args = ["-u", unit]
        if cursor:
            args += ["--after-cursor", cursor]
        return [r.get("MESSAGE", "") for r in self.journal(*args)
                if isinstance(r.get("MESSAGE"), str)]

    def shutdown(self):
        if not self.nspawn:
            return
        if self.nspawn.poll() is None:
            # nspawn turns SIGTERM into an orderly poweroff of the container.
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.nspawn.pid, signal.SIGKILL)
                self.nspawn.wait(timeout=10)
        self.console.close()
        self.nspawn = None
