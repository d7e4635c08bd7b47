"""A model container that attacks the daemon from inside (tests/data/hostile-model).

What a container can reach of the daemon: the dialer's Unix socket (its
directory is bind-mounted read-only at /.endpointd/run, and a read-only
mount does not stop connect()), the endpointd-dialer process the daemon
exec'd (same PID namespace, same user: it can kill it, and where seccomp and
capabilities allow, take its fds with pidfd_getfd), and its answers on 8080.
The hostile model does all of that at once, for as long as it runs: connects
to the socket again and again and hands the daemon a blocking pipe, a UDP
socket, a TCP socket to another port and a TCP socket to 8080 whose
O_NONBLOCK it clears; kills the real dialer once; answers an invocation with
both Content-Length and Transfer-Encoding, or with a chunk size of -0, when
asked to.

Whatever it does, the daemon stays responsive (DescribeEndpoint answers
fast), a well-behaved endpoint of the same daemon keeps serving, and the
hostile instance's own calls either succeed (over the real dialer or the
published port) or fail cleanly with 424.

Map: building the image (gcc -static, `docker build`), a daemon of its own
with a hostile and a good endpoint, then the tests.
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

import endpointd_harness as h
from endpointd_harness import ApiClient, Daemon
from test_invoke_dialer import LOOPBACK, container_id, dialer_processes, wait_dialer_ready
from test_invoke_support import assert_invoke_error, create_in_service, invoke

pytestmark = pytest.mark.engine_only("the attacks go at endpointd-dialer, which swarm mode does not run")

HOSTILE_IMAGE = "endpointd-hostile-model:test"
HOSTILE_SRC = os.path.join(os.path.dirname(__file__), "..", "data", "hostile-model")
# The model kills the real dialer this long after it starts.
KILL_DIALER_MS = 3000
# DescribeEndpoint under attack, on a shared 2-CPU test host.
DESCRIBE_FAST_S = 0.5
ATTACK_S = 20

HOSTILE_YAML = f"""\
Models:
  - ModelName: hostile
    PrimaryContainer:
      Image: "{HOSTILE_IMAGE}"
      Environment:
        HOSTILE_KILL_DIALER_MS: "{KILL_DIALER_MS}"
EndpointConfigs:
  - EndpointConfigName: hostile-config
    ProductionVariants:
      - VariantName: AllTraffic
        ModelName: hostile
        InitialInstanceCount: 1
        InstanceType: {h.INSTANCE_TYPE}
        InitialVariantWeight: 1.0
        ContainerStartupHealthCheckTimeoutInSeconds: {h.STARTUP_TIMEOUT_S}
"""


@pytest.fixture(scope="module")
def hostile_image(docker_sock):
    """The hostile model's image, built from its static binary."""
    cc = shutil.which("gcc")
    cli = shutil.which("docker")
    if not cc or not cli:
        pytest.skip("building the hostile model needs gcc and the docker CLI")
    ctx = tempfile.mkdtemp(prefix="hostile-model.")
    try:
        subprocess.run([cc, "-std=gnu11", "-O2", "-static", "-pthread", "-Wall", "-Werror",
                        "-o", os.path.join(ctx, "hostile-model"),
                        os.path.join(HOSTILE_SRC, "hostile-model.c")], check=True)
        shutil.copy(os.path.join(HOSTILE_SRC, "Dockerfile"), ctx)
        env = dict(os.environ, DOCKER_HOST="unix://" + docker_sock, DOCKER_BUILDKIT="0")
        subprocess.run([cli, "build", "-q", "-t", HOSTILE_IMAGE, ctx], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    yield HOSTILE_IMAGE


@pytest.fixture(scope="module")
def attacked(endpointd_bin, docker_sock, demo_image, docker, hostile_image):
    """A daemon of its own serving a hostile endpoint and a good one:
    (daemon, api, hostile name, hostile container id, good name)."""
    d = Daemon(endpointd_bin, docker_sock, demo_image, extra_yaml=HOSTILE_YAML)
    d.start()
    h._DAEMONS.append(d)
    api = ApiClient("127.0.0.1", d.port)
    factory = h.EndpointFactory(api)
    stopped = None
    try:
        hostile, good = create_in_service(factory, api, [("hostile", "hostile-config"),
                                                         ("good", "invoke-config")])
        yield d, api, hostile, container_id(docker, hostile), good
    finally:
        try:
            factory.cleanup()
        finally:
            # A sanitizer's report at exit shows as a bad exit status.
            stopped = d.stop()
            with open(os.path.join(d.workdir, "state", "daemon-id")) as f:
                owner = f.read().strip()
            for c in docker.containers(f"{h.LABEL}.managed=true", f"{h.LABEL}.owner={owner}"):
                docker.remove(c["Id"])
            h._DAEMONS.remove(d)
            if not os.environ.get("ENDPOINTD_TEST_KEEP"):
                shutil.rmtree(d.workdir, ignore_errors=True)
    assert stopped is None, stopped


def wait_for_log(what, read, needle, timeout=ATTACK_S):
    return h.wait_until(lambda: needle in read(), timeout, what=what)


def plain_invocation_succeeds(api, name):
    """After a bad answer the daemon takes the instance out of rotation (503)
    until its next ping passes; then plain calls succeed again, with nothing
    of the bad answer left on a pooled connection."""
    def ok():
        r = invoke(api, name, b"{}")
        assert r.status in (200, 503), r
        return r.status == 200 and "peer" in r.json
    h.wait_until(ok, ATTACK_S, what=f"{name} to answer plain invocations again")


def describe_time(api, name):
    t0 = time.monotonic()
    r = api.call("DescribeEndpoint", {"EndpointName": name})
    assert r.status == 200, r
    return time.monotonic() - t0


def test_connections_from_the_containers_own_processes_are_refused(docker, attacked):
    d, _, _, cid, _ = attacked
    wait_for_log("the daemon to refuse the model's connection", lambda: d.log_tail(0, 100000),
                 "refused a connection from pid")
    wait_for_log("the model to see its connections closed", lambda: docker.logs(cid),
                 "closed by the daemon")
    assert d.proc.poll() is None, d.log_tail(0)


def test_daemon_answers_describe_endpoint_fast_under_attack(attacked):
    _, api, hostile, _, good = attacked
    times = [describe_time(api, name) for _ in range(20) for name in (good, hostile)]
    assert max(times) < DESCRIBE_FAST_S, sorted(times)[-5:]


def test_other_endpoint_keeps_serving_under_attack(attacked):
    _, api, _, _, good = attacked
    for i in range(10):
        r = invoke(api, good, b'{"i": %d}' % i)
        assert r.status == 200, r


def test_hostile_instances_plain_invocations_succeed(attacked):
    _, api, hostile, _, _ = attacked
    for i in range(10):
        r = invoke(api, hostile, b"x" * (100 + i))
        assert r.status == 200, r
        assert r.json.get("length") == 100 + i, r


def test_killed_dialer_is_started_again_and_taken_despite_the_flood(docker, attacked):
    d, api, hostile, cid, _ = attacked
    wait_for_log("the model to kill its dialer", lambda: docker.logs(cid), "killer: SIGKILL")
    logs = docker.logs(cid)
    if "thief: answered on the dialer's" in logs:
        pytest.skip("this engine lets a container take the dialer's fds: the daemon drops "
                    "the dialer each time, see the next test")
    pid = wait_dialer_ready(docker, d.proc.pid, cid, timeout=ATTACK_S)
    assert dialer_processes(docker, cid)[0][0] == pid
    peers = {invoke(api, hostile, b"{}").json.get("peer") for _ in range(5)}
    assert peers == {LOOPBACK}, peers


def test_dialer_connection_taken_over_by_the_model_is_dropped_cleanly(docker, attacked):
    d, api, hostile, cid, good = attacked
    logs = docker.logs(cid)
    if "thief: answered on the dialer's" not in logs:
        pytest.skip("this engine does not let a container take the dialer's fds: "
                    + next((line for line in logs.splitlines() if "thief" in line), "no word"))
    wait_for_log("the daemon to drop the dialer", lambda: d.log_tail(0, 100000),
                 "endpointd-dialer went away")
    assert max(describe_time(api, good) for _ in range(10)) < DESCRIBE_FAST_S
    assert invoke(api, hostile, b"{}").status == 200


def test_answer_with_both_content_length_and_transfer_encoding_fails_with_424(attacked):
    _, api, hostile, _, _ = attacked
    r = invoke(api, hostile, b"{}", custom_attributes="smuggle")
    message = assert_invoke_error(r, 424, "ModelError")
    assert "Content-Length and Transfer-Encoding" in message, message
    plain_invocation_succeeds(api, hostile)


def test_chunk_size_of_minus_zero_fails_with_424(attacked):
    _, api, hostile, _, _ = attacked
    r = invoke(api, hostile, b"{}", custom_attributes="chunk-minus")
    message = assert_invoke_error(r, 424, "ModelError")
    assert "chunk size" in message, message
    plain_invocation_succeeds(api, hostile)


def test_daemon_survives_the_attack(attacked):
    d, api, _, _, good = attacked
    time.sleep(2)
    assert d.proc.poll() is None, d.log_tail(0)
    assert describe_time(api, good) < DESCRIBE_FAST_S
