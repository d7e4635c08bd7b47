"""GPUs: discovered through NVML at start-up, handed to instances by UUID.

An instance type with `gpus: N` makes each of its instances take N free GPUs
when its container is created: the container gets them as HostConfig
DeviceRequests (driver nvidia, DeviceIDs = the UUIDs) and carries their UUIDs
in the label io.endpointd.gpus; they are free again once the container goes.
CreateEndpoint refuses (ResourceLimitExceeded) a config that asks for more
GPUs than are free, and creates nothing.

The daemons here load the fake NVML of tests/unit/fake_nvml.c
(`nvml_library:`), which lists the GPUs its FAKE_NVML_GPUS environment
variable names.  The Engine of the test hosts has no NVIDIA runtime, so a GPU
container is created but never starts ("could not select device driver
"nvidia""): its creation is watched on the Engine's /events stream, subscribed
before CreateEndpoint, and the endpoint ends up Failed.

Map: the fake GPUs and the configs using them; EngineEvents (the /events
stream in a thread); gpu_daemon (a daemon of its own per fake); then the
tests, by daemon: one fake GPU, two fake GPUs, no NVML at all.
"""

import contextlib
import json
import os
import shutil
import socket
import threading
import time
import urllib.parse

import pytest

import endpointd_harness as h
from endpointd_harness import ApiClient, Daemon, unique_name

pytestmark = pytest.mark.engine_only(
    "GPUs by UUID from NVML are the local engine's; in swarm mode they are NVIDIA-GPU generic "
    "resources (test_swarm_endpoints.py)")

GPU_TYPE = "ml.g5.xlarge"  # gpus: 1
TWO_GPU_TYPE = "ml.g5.12xlarge"  # gpus: 2
INSTANCE_TYPES = {
    GPU_TYPE: "{ cpus: 0.1, memory: 128MiB, gpus: 1 }",
    TWO_GPU_TYPE: "{ cpus: 0.1, memory: 128MiB, gpus: 2 }",
}

GPU_CONFIG = "gpu-config"  # one instance of one GPU
GPU_PAIR_CONFIG = "gpu-pair-config"  # two instances of one GPU each
TWO_GPU_CONFIG = "two-gpu-config"  # one instance of two GPUs
CPU_CONFIG = "demo-config"  # the harness's; no GPU


def _gpu_configs_yaml():
    return h.endpoint_configs_yaml([(GPU_CONFIG, "demo", 1, GPU_TYPE),
                                    (GPU_PAIR_CONFIG, "demo", 2, GPU_TYPE),
                                    (TWO_GPU_CONFIG, "demo", 1, TWO_GPU_TYPE)])


GPU_A = ("GPU-0a0a0a0a-1111-2222-3333-444444444444", "NVIDIA Fake H100 80GB HBM3", 80 * 1024**3)
GPU_B = ("GPU-0b0b0b0b-5555-6666-7777-888888888888", "NVIDIA Fake L4", 24 * 1024**3)

LABEL_GPUS = f"{h.LABEL}.gpus"
LABEL_ENDPOINT = f"{h.LABEL}.endpoint"
NO_NVML = "/nonexistent/endpointd-test/libnvidia-ml.so.1"

# How long a first container of a new endpoint may take to be created (the
# image is there already), and a GPU endpoint to give up on the Engine's
# refusal to start it (three tries with backoff).
FIRST_CREATE_S = 20
FAILED_S = 60
# The first retry of a container that would not start comes a second later.
RETRY_CREATE_S = 5
# How long to watch for a container that should never be created.
NOTHING_CREATED_S = 2


def refusal_message(config, want, have, free):
    gpus = "GPU" if want == 1 else "GPUs"
    return f"Endpoint configuration {config} needs {want} {gpus}; this host has {have}, {free} of them free."


# ---------------------------------------------------------------------------
# The Engine's /events, filtered, read in a thread


class EngineEvents(threading.Thread):
    """Container create events of one endpoint, from subscription on.

    Each create is inspected as soon as it is read, because the daemon
    removes a container that cannot start within moments; `inspects` holds
    what came back, or None where the container was gone already.  The
    stream is bounded by `until`, so the thread ends on its own.
    """

    def __init__(self, docker, endpoint, timeout):
        super().__init__(daemon=True)
        self.docker = docker
        self.endpoint = endpoint
        self.until = time.time() + timeout
        self.events = []
        self.inspects = []
        self.error = None
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self._conn = None
        self._sock = None

    def __enter__(self):
        self.start()
        if not self._subscribed.wait(10):
            pytest.fail(f"could not subscribe to the Engine's events: {self.error!r}")
        if self.error:
            pytest.fail(f"could not subscribe to the Engine's events: {self.error!r}")
        return self

    def __exit__(self, *exc):
        # Ends the thread's read now rather than at `until`.
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self.join(5)

    def run(self):
        filters = {"type": ["container"], "event": ["create"],
                   "label": [f"{LABEL_ENDPOINT}={self.endpoint}"]}
        query = urllib.parse.urlencode({"until": f"{self.until:.3f}", "filters": json.dumps(filters)})
        try:
            self._conn = h._UnixHTTPConnection(self.docker.sock_path, None)
            self._conn.request("GET", f"{self.docker.API}/events?{query}")
            self._sock = self._conn.sock
            r = self._conn.getresponse()
            if r.status != 200:
                raise RuntimeError(f"GET /events: {r.status} {r.read()!r}")
            self._subscribed.set()
            while True:
                line = r.readline()
                if not line:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                status, body = self.docker.request("GET", f"/containers/{event['Actor']['ID']}/json")
                with self._lock:
                    self.events.append(event)
                    self.inspects.append(body if status == 200 else None)
                    self._lock.notify_all()
        except Exception as e:  # reported by wait_creates / __enter__
            self.error = e
        finally:
            self._subscribed.set()
            with self._lock:
                self._lock.notify_all()
            if self._conn is not None:
                self._conn.close()

    def wait_creates(self, n, timeout=FIRST_CREATE_S):
        """The first n create events, waiting for them up to timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    break
                self._lock.wait(min(left, 0.5))
            if len(self.events) < n:
                pytest.fail(f"{self.endpoint}: {len(self.events)} container create events within "
                            f"{timeout} s, wanted {n} (stream error: {self.error!r})", pytrace=False)
            return list(self.events[:n])

    def creates_now(self):
        with self._lock:
            return list(self.events)


def gpus_label(event):
    return event["Actor"]["Attributes"].get(LABEL_GPUS)


# ---------------------------------------------------------------------------
# A daemon of its own, seeing the fake GPUs


@pytest.fixture(scope="module")
def fake_nvml():
    """The fake libnvidia-ml, built beside the daemon under test."""
    path = os.environ.get("FAKE_NVML_LIBRARY")
    if not path:
        build = os.path.dirname(os.path.dirname(os.path.abspath(h.env_setting("ENDPOINTD_BIN"))))
        path = os.path.join(build, "tests", "unit", "libfakenvml.so")
    if not os.path.isfile(path):
        pytest.skip(f"the fake NVML {path} is not built (make -C tests unit/libfakenvml.so in the build)")
    return path


@contextlib.contextmanager
def gpu_daemon(endpointd_bin, docker_sock, demo_image, docker, nvml_library, gpus):
    """(daemon, api) for a daemon loading nvml_library, whose fake lists gpus."""
    d = Daemon(endpointd_bin, docker_sock, demo_image,
               extra_config=[f"nvml_library: {json.dumps(nvml_library)}"],
               extra_yaml=_gpu_configs_yaml(), extra_instance_types=INSTANCE_TYPES)
    h._DAEMONS.append(d)
    try:
        # The daemon inherits the environment at start, and the fake reads it.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FAKE_NVML_GPUS", ";".join(f"{u}|{n}|{m}" for u, n, m in gpus))
            try:
                d.start()
            except RuntimeError as e:
                pytest.fail(str(e), pytrace=False)
        yield d, ApiClient("127.0.0.1", d.port)
    finally:
        try:
            api = ApiClient("127.0.0.1", d.port)
            if d.proc is not None and d.proc.poll() is None:
                for name in api.endpoint_names():
                    h._cleanup_endpoint(api, name)
        finally:
            d.stop()
            owner_file = os.path.join(d.workdir, "state", "daemon-id")
            if os.path.exists(owner_file):
                with open(owner_file) as f:
                    owner = f.read().strip()
                for c in docker.containers(f"{h.LABEL}.managed=true", f"{h.LABEL}.owner={owner}"):
                    docker.remove(c["Id"])
            h._DAEMONS.remove(d)
            if not os.environ.get("ENDPOINTD_TEST_KEEP"):
                shutil.rmtree(d.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def one_gpu(endpointd_bin, docker_sock, demo_image, docker, fake_nvml):
    with gpu_daemon(endpointd_bin, docker_sock, demo_image, docker, fake_nvml, [GPU_A]) as d:
        yield d


@pytest.fixture(scope="module")
def two_gpus(endpointd_bin, docker_sock, demo_image, docker, fake_nvml):
    with gpu_daemon(endpointd_bin, docker_sock, demo_image, docker, fake_nvml, [GPU_A, GPU_B]) as d:
        yield d


@pytest.fixture(scope="module")
def no_nvml(endpointd_bin, docker_sock, demo_image, docker):
    with gpu_daemon(endpointd_bin, docker_sock, demo_image, docker, NO_NVML, []) as d:
        yield d


def wait_failed(api, name):
    d = api.wait_settled(name, FAILED_S)
    assert d["EndpointStatus"] == "Failed", f"{name} settled as {d!r}"
    return d


# ---------------------------------------------------------------------------
# One fake GPU


@pytest.mark.parametrize("config", [GPU_PAIR_CONFIG, TWO_GPU_CONFIG])
def test_create_endpoint_needing_more_gpus_than_are_free_is_refused_with_resource_limit_exceeded(
        one_gpu, config):
    _, api = one_gpu
    r = api.error("CreateEndpoint",
                  {"EndpointName": unique_name("gpu-2"), "EndpointConfigName": config})
    assert r.error_type == "ResourceLimitExceeded", r
    assert r.message == refusal_message(config, 2, 1, 1), r


def test_endpoint_refused_for_want_of_gpus_does_not_exist(one_gpu):
    _, api = one_gpu
    name = unique_name("gpu-2")
    api.error("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": GPU_PAIR_CONFIG})
    assert api.describe(name) is None


def test_endpoint_refused_for_want_of_gpus_gets_no_container(one_gpu, docker):
    _, api = one_gpu
    name = unique_name("gpu-2")
    with EngineEvents(docker, name, timeout=NOTHING_CREATED_S + 10) as events:
        api.error("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": GPU_PAIR_CONFIG})
        time.sleep(NOTHING_CREATED_S)
        assert events.creates_now() == []
    assert docker.endpoint_containers(name) == []


def test_boto3_sees_resource_limit_exceeded_when_gpus_run_out(one_gpu, aws_env):
    boto3 = pytest.importorskip("boto3")
    botocore_config = pytest.importorskip("botocore.config")
    botocore_exceptions = pytest.importorskip("botocore.exceptions")
    _, api = one_gpu
    with pytest.MonkeyPatch.context() as mp:
        for k, v in aws_env.items():
            mp.setenv(k, v)
        mp.delenv("AWS_PROFILE", raising=False)
        sm = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                   region_name=h.REGION).client(
            "sagemaker", endpoint_url=api.url,
            config=botocore_config.Config(retries={"max_attempts": 1, "mode": "standard"}))
        with pytest.raises(botocore_exceptions.ClientError) as e:
            sm.create_endpoint(EndpointName=unique_name("b3-gpu-2"), EndpointConfigName=GPU_PAIR_CONFIG)
    assert e.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert e.value.response["Error"]["Message"] == refusal_message(GPU_PAIR_CONFIG, 2, 1, 1)


def test_second_one_gpu_endpoint_created_right_after_the_first_is_refused(one_gpu):
    """The GPUs a new endpoint will take count as taken from CreateEndpoint
    on, not only once its container is being created."""
    _, api = one_gpu
    factory = h.EndpointFactory(api)
    try:
        factory.create("gpu-first", config=GPU_CONFIG)
        second = unique_name("gpu-second")
        r = api.call("CreateEndpoint", {"EndpointName": second, "EndpointConfigName": GPU_CONFIG})
        if r.status == 200:
            factory.adopt(second)
        assert (r.status, r.error_type) == (400, "ResourceLimitExceeded"), r
    finally:
        factory.cleanup()


def test_gpu_endpoint_waiting_to_retry_its_container_keeps_its_gpu(one_gpu):
    """Between the tries at starting a container the endpoint still needs
    its GPU: a later endpoint must not take it and make it fail."""
    d, api = one_gpu
    factory = h.EndpointFactory(api)
    try:
        since = d.log_size()
        first, _ = factory.create("gpu-retry", config=GPU_CONFIG)

        def retrying():
            return any(f"endpoint {first}: " in line and "; trying again in " in line
                       for line in d.log_tail(since).splitlines())

        # The daemon logs this as it removes the container that failed.
        h.wait_until(retrying, FIRST_CREATE_S, what=f"{first} to retry its container")
        second = unique_name("gpu-later")
        r = api.call("CreateEndpoint", {"EndpointName": second, "EndpointConfigName": GPU_CONFIG})
        if r.status == 200:
            factory.adopt(second)
        assert (r.status, r.error_type) == (400, "ResourceLimitExceeded"), r
    finally:
        factory.cleanup()


def test_gpu_of_a_failed_endpoint_is_free_for_the_next_endpoint(one_gpu):
    _, api = one_gpu
    factory = h.EndpointFactory(api)
    try:
        first, _ = factory.create("gpu-fails", config=GPU_CONFIG)
        wait_failed(api, first)
        second = unique_name("gpu-next")
        r = api.call("CreateEndpoint", {"EndpointName": second, "EndpointConfigName": GPU_CONFIG})
        if r.status == 200:
            factory.adopt(second)
        assert r.status == 200, r
    finally:
        factory.cleanup()


# ---------------------------------------------------------------------------
# Two fake GPUs


@pytest.fixture(scope="module")
def one_gpu_endpoint_created(two_gpus, docker):
    """(first create event, an inspect of its container or None) of a 1-GPU
    endpoint on the two-GPU daemon, the only endpoint there; deleted again
    before the tests run, so that both GPUs are free for the next ones.
    Where the first container went before it could be inspected, the retry's
    (same GPU, a second later) is inspected instead."""
    _, api = two_gpus
    factory = h.EndpointFactory(api)
    name = unique_name("gpu-one")
    try:
        with EngineEvents(docker, name, timeout=FIRST_CREATE_S + 5) as events:
            factory.create("gpu-one", config=GPU_CONFIG, name=name)
            (event,) = events.wait_creates(1)
            inspect = events.inspects[0]
            if inspect is None:
                events.wait_creates(2, timeout=RETRY_CREATE_S)
                inspect = events.inspects[1]
    finally:
        factory.cleanup()
    return event, inspect


def test_daemon_logs_each_gpu_it_discovers(two_gpus):
    d, _ = two_gpus
    log = d.log_tail(0, max_lines=10_000)
    for i, (uuid, name, memory) in enumerate([GPU_A, GPU_B]):
        line = f"GPU {i}: {uuid}, {name}, {memory / 1024**3:.1f} GiB"
        assert line in log, f"{line!r} not in the daemon's log:\n{log}"


def test_container_of_a_one_gpu_endpoint_is_labelled_with_the_first_gpu_uuid(one_gpu_endpoint_created):
    event, _ = one_gpu_endpoint_created
    assert gpus_label(event) == GPU_A[0], event["Actor"]["Attributes"]


def test_container_of_a_one_gpu_endpoint_requests_that_gpu_by_uuid_from_the_nvidia_driver(
        one_gpu_endpoint_created):
    _, inspect = one_gpu_endpoint_created
    if inspect is None:
        pytest.skip("the daemon removed both the container and its retry before they could be inspected")
    requests = inspect["HostConfig"].get("DeviceRequests")
    assert [(r.get("Driver"), r.get("DeviceIDs"), r.get("Capabilities"), r.get("Count") or 0)
            for r in requests or []] == [("nvidia", [GPU_A[0]], [["gpu"]], 0)], requests


def test_two_one_gpu_endpoints_get_different_gpus(two_gpus, docker):
    _, api = two_gpus
    factory = h.EndpointFactory(api)
    names = [unique_name("gpu-x"), unique_name("gpu-y")]
    try:
        with EngineEvents(docker, names[0], FIRST_CREATE_S + 5) as ex, \
                EngineEvents(docker, names[1], FIRST_CREATE_S + 5) as ey:
            for name in names:
                factory.create("gpu", config=GPU_CONFIG, name=name)
            labels = [gpus_label(ex.wait_creates(1)[0]), gpus_label(ey.wait_creates(1)[0])]
        assert sorted(labels) == sorted([GPU_A[0], GPU_B[0]]), labels
    finally:
        factory.cleanup()


# ---------------------------------------------------------------------------
# No NVML


def test_without_nvml_a_gpu_endpoint_is_refused_with_no_gpus_free(no_nvml):
    _, api = no_nvml
    r = api.error("CreateEndpoint",
                  {"EndpointName": unique_name("gpu-none"), "EndpointConfigName": GPU_CONFIG})
    assert (r.error_type, r.message) == ("ResourceLimitExceeded", refusal_message(GPU_CONFIG, 1, 0, 0)), r


def test_without_nvml_a_cpu_endpoint_still_comes_in_service(no_nvml):
    _, api = no_nvml
    factory = h.EndpointFactory(api)
    try:
        name, _ = factory.create("cpu", config=CPU_CONFIG)
        api.wait_in_service(name)
    finally:
        factory.cleanup()


def test_without_nvml_the_daemon_logs_why_it_sees_no_gpus(no_nvml):
    d, _ = no_nvml
    log = d.log_tail(0, max_lines=10_000)
    assert any("no GPUs: " in line and NO_NVML in line for line in log.splitlines()), log
