"""ModelDataUrl becomes /opt/ml/model, mounted read-only (DESIGN.md, Containers),
only from model_data_roots (DESIGN.md, Security), cached within
model_cache_max_bytes."""

import os
import re
import shutil
import subprocess

import pytest

import endpointd_harness as h
from endpointd_harness import (MODEL_DIR_FILES, MODEL_TAR_FILES, ApiClient, Daemon, daemon_env,
                               docker_yaml, free_port, wait_until)


@pytest.fixture(scope="module")
def data_containers(api, docker, module_endpoints):
    """One InService endpoint per kind of model data, and its container."""
    found = {}
    for kind in ("dir", "tar"):
        name, _ = module_endpoints.create(f"data-{kind}", config=f"data-{kind}-config")
        api.wait_in_service(name)
        (c,) = docker.endpoint_containers(name)
        found[kind] = docker.inspect(c["Id"])
    return found


def _model_mount(container):
    mounts = [m for m in container["Mounts"] if m["Destination"] == "/opt/ml/model"]
    assert len(mounts) == 1, container["Mounts"]
    return mounts[0]


@pytest.mark.parametrize("kind", ["dir", "tar"])
def test_model_data_is_mounted_read_only_at_opt_ml_model(data_containers, kind):
    assert _model_mount(data_containers[kind])["RW"] is False


def test_a_model_data_directory_is_mounted_where_it_is(data_containers, daemon):
    assert _model_mount(data_containers["dir"])["Source"].endswith("/model-dir")


def test_a_model_data_tarball_is_unpacked_under_the_state_dir(data_containers):
    assert "/state/models/" in _model_mount(data_containers["tar"])["Source"]


@pytest.mark.parametrize("kind,files", [("dir", MODEL_DIR_FILES), ("tar", MODEL_TAR_FILES)])
def test_the_container_sees_every_file_of_its_model_data(data_containers, docker, kind, files):
    cid = data_containers[kind]["Id"]
    want = f"model dir /opt/ml/model has {len(files)} entries"
    wait_until(lambda: want in docker.logs(cid), 10, what=f"'{want}' in the container log")


def test_a_container_without_model_data_has_no_model_mount(docker, ready_endpoint):
    (c,) = docker.endpoint_containers(ready_endpoint)
    mounts = docker.inspect(c["Id"])["Mounts"]
    assert not [m for m in mounts if m["Destination"] == "/opt/ml/model"]


# ---------------------------------------------------------------------------
# Model data from outside model_data_roots: the YAML is refused at load, so
# no CreateEndpoint can ever mount it.


def _escaping_urls(tmp_path):
    root = tmp_path / "models"
    outside = tmp_path / "outside"
    (outside / "m").mkdir(parents=True)
    (outside / "m" / "secret").write_text("secret")
    root.mkdir()
    (root / "escape").symlink_to(outside)
    return str(root), {
        "outside": "file:///etc",
        "dotdot": f"file://{root}/../outside/m",
        "symlink": f"{root}/escape/m",
    }


def _config_with_model_data(tmp_path, docker_sock, demo_image, root, url):
    lines = [
        f'listen: ["127.0.0.1:{free_port()}"]',
        f'state_dir: "{tmp_path / "state"}"',
        'account_id: "000000000000"',
        docker_yaml(docker_sock),
        "instance_types: { ml.t2.medium: { cpus: 0.1, memory: 128MiB } }",
        f'model_data_roots: ["{root}"]',
        "Models:",
        "  - ModelName: m",
        f'    PrimaryContainer: {{ Image: "{demo_image}", ModelDataUrl: "{url}" }}',
        "EndpointConfigs:",
        "  - EndpointConfigName: c",
        "    ProductionVariants:",
        "      - { VariantName: AllTraffic, ModelName: m, InitialInstanceCount: 1, InstanceType: ml.t2.medium }",
    ]
    path = tmp_path / "endpointd.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


MODEL_DATA_URL_LINE = 9  # 1-based line of the ModelDataUrl above


@pytest.mark.parametrize("how", ["outside", "dotdot", "symlink"])
def test_model_data_outside_the_roots_keeps_the_daemon_from_starting(
        endpointd_bin, docker_sock, demo_image, tmp_path, how):
    root, urls = _escaping_urls(tmp_path)
    path = _config_with_model_data(tmp_path, docker_sock, demo_image, root, urls[how])
    try:
        p = subprocess.run([endpointd_bin, "--config", path], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=15, env=daemon_env(docker_sock))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"endpointd started with model data outside its roots; stderr: {e.stderr!r}")
    stderr = p.stderr.decode(errors="replace")
    assert p.returncode != 0, stderr
    want = (re.escape(f'{path}:{MODEL_DATA_URL_LINE}:') + r"\d+: " +
            re.escape(f'ModelDataUrl "{urls[how]}" ') +
            r"(is not under|resolves to \S+, which is not under) any of model_data_roots " +
            re.escape(f"({root})"))
    assert re.search(want, stderr), stderr
    assert not os.path.exists(tmp_path / "state" / "models"), "nothing was unpacked"


def test_check_config_refuses_model_data_outside_the_roots(endpointd_bin, docker_sock, demo_image,
                                                           tmp_path):
    root, urls = _escaping_urls(tmp_path)
    path = _config_with_model_data(tmp_path, docker_sock, demo_image, root, urls["symlink"])
    p = subprocess.run([endpointd_bin, "--check-config", "--config", path],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=15,
                       env=daemon_env(docker_sock))
    stderr = p.stderr.decode(errors="replace")
    assert p.returncode != 0, stderr
    assert f"{path}:{MODEL_DATA_URL_LINE}:" in stderr and "resolves to" in stderr, stderr


# ---------------------------------------------------------------------------
# The model cache: with model_cache_max_bytes: 0 nothing that no endpoint
# uses is kept.


@pytest.fixture(scope="module")
def lean_cache(endpointd_bin, docker_sock, demo_image, docker):
    """(daemon, api, factory) of a daemon of its own with model_cache_max_bytes: 0."""
    d = Daemon(endpointd_bin, docker_sock, demo_image, extra_config=["model_cache_max_bytes: 0"])
    d.start()
    h._DAEMONS.append(d)
    api = ApiClient("127.0.0.1", d.port)
    factory = h.EndpointFactory(api)
    err = None
    try:
        yield d, api, factory
    finally:
        try:
            factory.cleanup()
        finally:
            err = d.stop()
            with open(os.path.join(d.workdir, "state", "daemon-id")) as f:
                owner = f.read().strip()
            docker.remove_owned_by(owner)
            h._DAEMONS.remove(d)
            if not os.environ.get("ENDPOINTD_TEST_KEEP"):
                shutil.rmtree(d.workdir, ignore_errors=True)
    assert not err, err


def _cache_entry(docker, name):
    (c,) = docker.endpoint_containers(name)
    source = _model_mount(docker.inspect(c["Id"]))["Source"]
    assert source.endswith("/model"), source
    return os.path.dirname(source)


def _delete(api, name):
    api.ok("DeleteEndpoint", {"EndpointName": name})
    wait_until(lambda: api.describe(name) is None, h.DELETE_DEADLINE_S, what=f"{name} to go")


def test_cache_keeps_model_data_in_use_and_drops_it_with_its_last_endpoint(lean_cache, docker):
    d, api, factory = lean_cache
    tar, _ = factory.create("cache-tar", config="data-tar-config")
    other, _ = factory.create("cache-other", config="demo-config")
    api.wait_in_service(tar)
    api.wait_in_service(other)
    entry = _cache_entry(docker, tar)
    assert entry.startswith(os.path.join(d.workdir, "state", "models") + "/"), entry

    _delete(api, other)  # a trim runs: the entry is in use, over the bound or not
    assert os.path.isdir(entry), "model data in use is never removed"

    _delete(api, tar)
    wait_until(lambda: not os.path.exists(entry), 10, what=f"{entry} to be removed")


def test_cache_is_trimmed_at_start_once_endpoints_are_matched(lean_cache, docker):
    d, api, factory = lean_cache
    tar, _ = factory.create("cache-restart", config="data-tar-config")
    api.wait_in_service(tar)
    entry = _cache_entry(docker, tar)
    assert d.stop() is None
    stale = os.path.join(os.path.dirname(entry), "0123456789abcdef-0123456789abcdef")
    os.makedirs(os.path.join(stale, "model"))
    with open(os.path.join(stale, "size"), "w") as f:
        f.write("1\n")

    d.start()
    api.port = d.port  # a restart listens on a new port
    wait_until(lambda: not os.path.exists(stale), 20, what=f"{stale} to be removed")
    assert os.path.isdir(entry), "the restored endpoint's model data stays"
    assert _cache_entry(docker, tar) == entry
