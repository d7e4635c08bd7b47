"""One booted Debian tree with endpointd installed, shared by tests/boot.

The session fixture installs the build, writes the daemon config and the
drop-ins an operator would (the port, the state directory's new place),
boots the tree and starts endpointd.socket and endpointd.service.  Tests
leave the service running with the config they found.
"""

import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import pytest  # noqa: E402

pytest.register_assert_rewrite("boot_harness")
from boot_harness import Machine  # noqa: E402
from endpointd_harness import ApiClient, DockerClient, free_port, wait_until  # noqa: E402

DEMO_IMAGE = os.environ.get("DEMO_IMAGE", "endpointd-demo-model:latest")

# Fake NVIDIA device nodes bound into the booted system: (name, major, minor),
# as the driver numbers them.  Nothing drives them: opening one says ENXIO,
# which the fake NVML takes for a node the sandbox let through.
GPU_NODES = [("nvidiactl", 195, 255), ("nvidia0", 195, 0), ("nvidia1", 195, 1)]
# Where the fake libnvidia-ml (tests/unit/fake_nvml.c) goes in the tree.
FAKE_NVML = "/usr/local/lib/endpointd-tests/libfakenvml.so"


def daemon_config(m):
    return f"""\
listen: [127.0.0.1:{m.port}]
state_dir: {m.state_dir}
include: [conf.d/*.yaml]
region: us-east-1
account_id: "000000000000"
docker:
  socket: /run/docker.sock
container_dialer: {m.dialer}
nvml_library: {FAKE_NVML}
instance_types:
  ml.t2.medium: {{ cpus: 1, memory: 512MiB }}
limits:
  drain_timeout_s: 20
"""


BOOT_YAML = f"""\
Models:
  - ModelName: boot-slow
    PrimaryContainer:
      Image: {DEMO_IMAGE}
      Environment: {{ DEMO_INVOKE_DELAY_MS: "1500" }}
  - ModelName: boot-failing
    PrimaryContainer:
      Image: {DEMO_IMAGE}
      Environment: {{ DEMO_INVOKE_STATUS: "500" }}
EndpointConfigs:
  - EndpointConfigName: boot-slow-config
    ProductionVariants:
      - {{ VariantName: AllTraffic, ModelName: boot-slow, InitialInstanceCount: 1,
          InstanceType: ml.t2.medium }}
  - EndpointConfigName: boot-failing-config
    ProductionVariants:
      - {{ VariantName: AllTraffic, ModelName: boot-failing, InitialInstanceCount: 1,
          InstanceType: ml.t2.medium }}
"""


@pytest.fixture(scope="session")
def machine():
    tree = os.environ.get("ENDPOINTD_BOOT_TREE")
    run_dir = os.environ.get("ENDPOINTD_BOOT_RUN_DIR")
    if not tree or not run_dir:
        pytest.skip("run through tests/run-boot-tests")
    m = Machine(tree, run_dir, os.environ["top_builddir"], os.environ["DOCKER_SOCK"],
                free_port(), GPU_NODES)
    m.install()
    m.copy_in(os.path.join(os.environ["top_builddir"], "tests", "unit", "libfakenvml.so"),
              FAKE_NVML)
    m.write(m.config_path, daemon_config(m))
    m.write(os.path.join(m.config_dir, "conf.d", "boot.yaml"), BOOT_YAML)
    # What an operator writes for a state_dir outside /var/lib/endpointd
    # and for another port.
    m.dropin("endpointd.service", "10-state-dir", f"[Service]\nReadWritePaths={m.state_dir}\n")
    m.dropin("endpointd.socket", "10-port",
             f"[Socket]\nListenStream=\nListenStream=127.0.0.1:{m.port}\n")
    try:
        m.boot()
        m.systemctl("enable", "--now", "endpointd.socket")
        m.systemctl("start", "endpointd.service")
        yield m
    finally:
        try:
            if m.leader:
                m.systemctl("stop", "endpointd.socket", "endpointd.service", check=False)
        finally:
            m.shutdown()
            remove_containers(m)


def remove_containers(m):
    """The containers this run's daemon made (a shared engine keeps others)."""
    try:
        with open(os.path.join(m.state_dir, "daemon-id")) as f:
            owner = f.read().strip()
    except OSError:
        return
    d = DockerClient(m.docker_sock)
    for c in d.containers(f"io.endpointd.owner={owner}"):
        d.remove(c["Id"])


@pytest.fixture(scope="session")
def api(machine):
    return ApiClient("127.0.0.1", machine.port)


@pytest.fixture(scope="session")
def docker(machine):
    return DockerClient(machine.docker_sock)


@pytest.fixture(scope="session")
def demo_endpoint(machine, api):
    """An InService endpoint of the demo config, made with the AWS CLI."""
    import aws_cli
    aws_cli.aws(machine.port, "sagemaker", "create-endpoint", "--endpoint-name", "boot-demo",
                "--endpoint-config-name", "demo-config")
    api.wait_in_service("boot-demo")
    return "boot-demo"


def wait_active(m, pid_not=None, timeout=60):
    """Until endpointd.service is active again (with another MainPID)."""
    def ready():
        p = m.show("endpointd.service", "ActiveState", "SubState", "MainPID")
        return (p["ActiveState"] == "active" and p["SubState"] == "running"
                and int(p["MainPID"]) not in (0, pid_not))
    wait_until(ready, timeout, what="endpointd.service active")
