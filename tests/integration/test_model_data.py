"""ModelDataUrl becomes /opt/ml/model, mounted read-only (DESIGN.md, Containers)."""

import pytest

from endpointd_harness import MODEL_DIR_FILES, MODEL_TAR_FILES, wait_until


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
