"""The unit files: systemd-analyze verify accepts them, and the sandbox of
endpointd.service rates an exposure of at most 4.0 while it can still reach
the Docker socket and its state directory, spawn tar, and let NVML open the
NVIDIA device nodes (and no other device) and read /proc/driver/nvidia."""

import os
import re
import subprocess

import pytest

from sd_harness import ENDPOINTD_BIN, find_tool

SRCDIR = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(__file__), "..", "..")
BUILDDIR = os.environ.get("top_builddir") or SRCDIR
UNIT_IN = os.path.join(SRCDIR, "systemd", "endpointd.service.in")
SOCKET = os.path.join(SRCDIR, "systemd", "endpointd.socket")
SYSUSERS = os.path.join(SRCDIR, "systemd", "endpointd.sysusers")
MAX_EXPOSURE = 4.0


@pytest.fixture
def analyze():
    tool = find_tool("systemd-analyze")
    if tool is None:
        pytest.skip("no systemd-analyze (apt-get install systemd)")
    return tool


@pytest.fixture
def units(workdir):
    """The units as make would write them, with ExecStart= the endpointd just built."""
    with open(UNIT_IN) as f:
        text = f.read()
    text = (text.replace("@sbindir@", os.path.dirname(os.path.abspath(ENDPOINTD_BIN)))
                .replace("@sysconfdir@", "/etc"))
    d = os.path.join(workdir, "units")
    os.makedirs(d)
    with open(os.path.join(d, "endpointd.service"), "w") as f:
        f.write(text)
    with open(SOCKET) as src, open(os.path.join(d, "endpointd.socket"), "w") as dst:
        dst.write(src.read())
    return d


def directives(path, section="Service"):
    """{key: [values]} of one section."""
    out, current = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                current = line.strip("[]")
                continue
            if current == section and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_units_pass_systemd_analyze_verify(analyze, units):
    r = subprocess.run([analyze, "verify", "--man=no",
                        os.path.join(units, "endpointd.service"),
                        os.path.join(units, "endpointd.socket")],
                       capture_output=True, text=True)
    # verify warns about unknown keys and the like without failing: any line
    # about our units counts.
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "endpointd" in line]
    assert r.returncode == 0 and not ours, r.stdout + r.stderr


def test_service_exposure_is_at_most_4(analyze, units):
    r = subprocess.run([analyze, "security", "--offline=true", "--no-pager",
                        os.path.join(units, "endpointd.service")],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for endpointd\.service: (\d+(?:\.\d+)?)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE, r.stdout


def test_service_is_type_notify_with_a_watchdog_and_restart(units):
    s = directives(os.path.join(units, "endpointd.service"))
    assert s["Type"] == ["notify"]
    assert s["Restart"] == ["on-failure"]
    assert "WatchdogSec" in s
    assert any('kill -HUP "$$MAINPID"' in v for v in s["ExecReload"])


def test_service_can_still_reach_docker_its_state_and_tar(units):
    s = directives(os.path.join(units, "endpointd.service"))
    # Unprivileged, in the group that owns /run/docker.sock.
    assert s["User"] == ["endpointd"]
    assert "docker" in " ".join(s.get("SupplementaryGroups", []) + s.get("Group", [])).split()
    assert s["StateDirectory"] == ["endpointd"]
    assert "AF_UNIX" in " ".join(s["RestrictAddressFamilies"]).split()
    assert s.get("PrivateNetwork", ["no"]) == ["no"]
    for key in ("InaccessiblePaths", "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths"):
        for v in s.get(key, []):
            assert "/run" not in v and "/var/lib" not in v, f"{key}={v}"
    # tar is spawned for model tarballs: @process must stay allowed.
    allow = [v for v in s["SystemCallFilter"] if not v.startswith("~")]
    deny = [v for v in s["SystemCallFilter"] if v.startswith("~")]
    assert any("@system-service" in v for v in allow)
    assert not any("@process" in v for v in deny)
    # Files it unpacks must stay readable by the containers' users.
    assert int(s["UMask"][0], 8) & 0o004 == 0


# What NVML opens: nvidiactl (195:255) and one node per GPU (195:N), N < 16.
NVML_NODES = {"/dev/nvidiactl": "195:255", **{f"/dev/nvidia{n}": f"195:{n}" for n in range(16)}}


def test_service_keeps_dev_private_but_binds_in_the_nodes_nvml_opens(units):
    s = directives(os.path.join(units, "endpointd.service"))
    assert s["PrivateDevices"] == ["yes"]
    assert s.get("DevicePolicy", ["closed"]) in (["closed"], ["strict"])
    bound = " ".join(s.get("BindReadOnlyPaths", [])).split()
    # "-": a host without the NVIDIA driver starts all the same.
    assert sorted(bound) == sorted(f"-{node}" for node in NVML_NODES), bound
    assert not [v for v in s.get("BindPaths", []) if "/dev" in v]


def test_service_device_acl_is_exactly_the_nodes_nvml_opens(units):
    s = directives(os.path.join(units, "endpointd.service"))
    allowed = {}
    for v in s.get("DeviceAllow", []):
        dev, _, perms = v.partition(" ")
        allowed[dev] = perms.strip()
    want = {f"/dev/char/{nums}": "rw" for nums in NVML_NODES.values()}
    assert allowed == want, allowed


def test_service_lets_nvml_read_proc_driver_nvidia_but_not_other_processes(units):
    s = directives(os.path.join(units, "endpointd.service"))
    assert s.get("ProcSubset", ["all"]) == ["all"]
    assert s["ProtectProc"] == ["invisible"]


def test_socket_unit_hands_its_socket_to_the_service():
    s = directives(SOCKET, "Socket")
    assert s["ListenStream"] == ["127.0.0.1:8780"]
    assert s["Service"] == ["endpointd.service"]
    assert s.get("Accept", ["no"]) == ["no"]


def test_generated_service_has_its_paths_substituted():
    built = os.path.join(BUILDDIR, "systemd", "endpointd.service")
    if not os.path.exists(built):
        pytest.skip(f"{built} is not made (make in systemd/)")
    with open(built) as f:
        text = f.read()
    assert "@sbindir@" not in text and "@sysconfdir@" not in text
    exec_start = directives(built)["ExecStart"][0].split()
    assert exec_start[0].startswith("/") and exec_start[0].endswith("/sbin/endpointd")
    assert exec_start[1:3] == ["--config", exec_start[2]]
    assert exec_start[2].endswith("/endpointd/endpointd.yaml")


def test_sysusers_snippet_creates_the_user(workdir):
    tool = find_tool("systemd-sysusers")
    if tool is None:
        pytest.skip("no systemd-sysusers (apt-get install systemd)")
    root = os.path.join(workdir, "root")
    os.makedirs(os.path.join(root, "etc"))
    r = subprocess.run([tool, f"--root={root}", SYSUSERS], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(root, "etc", "passwd")) as f:
        users = {line.split(":")[0]: line.split(":") for line in f}
    assert users["endpointd"][5] == "/var/lib/endpointd"
    assert users["endpointd"][6].strip().endswith("nologin")
