"""A bad config is refused at start with `file:line:column: message`."""

import re
import subprocess

import pytest

from endpointd_harness import ApiClient, daemon_env, docker_yaml, free_port, wait_until

VARIANT = (
    "      - {{ VariantName: AllTraffic, ModelName: {model}, InitialInstanceCount: 1, "
    "InstanceType: {itype}, ContainerStartupHealthCheckTimeoutInSeconds: {timeout} }}"
)


def _config(tmp_path, docker_sock, demo_image, model="demo", itype="ml.t2.medium", timeout=60, extra=()):
    lines = [
        f'listen: ["127.0.0.1:{free_port()}"]',
        f'state_dir: "{tmp_path / "state"}"',
        "region: us-east-1",
        'account_id: "000000000000"',
        docker_yaml(docker_sock),
        "instance_types:",
        "  ml.t2.medium: { cpus: 0.1, memory: 128MiB }",
        "Models:",
        "  - ModelName: demo",
        f'    PrimaryContainer: {{ Image: "{demo_image}" }}',
        "EndpointConfigs:",
        "  - EndpointConfigName: c",
        "    ProductionVariants:",
        VARIANT.format(model=model, itype=itype, timeout=timeout),
        *extra,
    ]
    path = tmp_path / "endpointd.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path), lines


VARIANT_LINE = 14  # 1-based line of the variant above


def _run_expecting_refusal(endpointd_bin, docker_sock, path):
    try:
        p = subprocess.run(
            [endpointd_bin, "--config", path],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=15, env=daemon_env(docker_sock),
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"endpointd accepted the bad config and kept running; stderr: {e.stderr!r}")
    return p.returncode, p.stderr.decode(errors="replace")


def _assert_points_at(stderr, path, line):
    assert re.search(re.escape(path) + rf":{line}:\d+: \S", stderr), stderr


def test_minimal_config_used_below_starts(endpointd_bin, docker_sock, demo_image, tmp_path):
    path, lines = _config(tmp_path, docker_sock, demo_image)
    port = int(lines[0].split(":")[-1].rstrip('"]'))
    p = subprocess.Popen([endpointd_bin, "--config", path], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=daemon_env(docker_sock))
    try:
        api = ApiClient("127.0.0.1", port, timeout=5)

        def up():
            assert p.poll() is None, f"exited {p.returncode}: {p.stderr.read().decode(errors='replace')}"
            try:
                return api.call("ListEndpoints", {}).status == 200
            except OSError:
                return False

        wait_until(up, 20, what="the daemon with the minimal config to answer")
    finally:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.mark.parametrize("timeout", [59, 3601])
def test_startup_timeout_outside_60_to_3600_is_refused_at_its_line(endpointd_bin, docker_sock, demo_image, tmp_path, timeout):
    path, _ = _config(tmp_path, docker_sock, demo_image, timeout=timeout)
    rc, stderr = _run_expecting_refusal(endpointd_bin, docker_sock, path)
    assert rc != 0, stderr
    _assert_points_at(stderr, path, VARIANT_LINE)


def test_variant_naming_an_unknown_model_is_refused_at_its_line(endpointd_bin, docker_sock, demo_image, tmp_path):
    path, _ = _config(tmp_path, docker_sock, demo_image, model="no-such-model")
    rc, stderr = _run_expecting_refusal(endpointd_bin, docker_sock, path)
    assert rc != 0, stderr
    _assert_points_at(stderr, path, VARIANT_LINE)


def test_variant_naming_an_unknown_instance_type_is_refused_at_its_line(endpointd_bin, docker_sock, demo_image, tmp_path):
    path, _ = _config(tmp_path, docker_sock, demo_image, itype="ml.p4d.24xlarge")
    rc, stderr = _run_expecting_refusal(endpointd_bin, docker_sock, path)
    assert rc != 0, stderr
    _assert_points_at(stderr, path, VARIANT_LINE)


def test_broken_yaml_is_refused_with_file_and_line(endpointd_bin, docker_sock, demo_image, tmp_path):
    path, lines = _config(tmp_path, docker_sock, demo_image, extra=["limits: { max_endpoints: [1, }"])
    rc, stderr = _run_expecting_refusal(endpointd_bin, docker_sock, path)
    assert rc != 0, stderr
    assert re.search(re.escape(path) + r":\d+:\d+: \S", stderr), stderr


def test_missing_config_file_is_refused(endpointd_bin, docker_sock, tmp_path):
    rc, stderr = _run_expecting_refusal(endpointd_bin, docker_sock, str(tmp_path / "absent.yaml"))
    assert rc != 0
    assert "absent.yaml" in stderr, stderr
