"""ModelDataUrl becomes /opt/ml/model, mounted read-only (DESIGN.md, Containers),
only from model_data_roots (DESIGN.md, Security)."""

import os
import re
import subprocess

import pytest

from endpointd_harness import MODEL_DIR_FILES, MODEL_TAR_FILES, daemon_env, free_port, wait_until


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
        f'docker: {{ socket: "{docker_sock}" }}',
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

