"""auth: and the credentials file as the daemon reads them: at start and in
`endpointd --check-config`, a listener beyond loopback without credentials
and a credentials file others may read are refused at their line; a good
file's keys are counted."""

import os
import re
import subprocess

import pytest

from endpointd_harness import daemon_env, docker_yaml, free_port

KEYS = """keys:
  - name: pipeline-a
    access_key_id: AKIDPIPELINEA0000001
    secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    allow:
      - actions: ["sagemaker:InvokeEndpoint", "sagemaker:Describe*"]
        resources: ["arn:aws:sagemaker:*:*:endpoint/team-a-*"]
  - name: admin
    access_key_id: AKIAIOSFODNN7EXAMPLE
    secret_access_key: admin-secret
    allow:
      - actions: ["*"]
        resources: ["*"]
"""


def _config(tmp_path, docker_sock, listen, extra=()):
    lines = [
        f'listen: ["{listen}"]',
        f'state_dir: "{tmp_path / "state"}"',
        docker_yaml(docker_sock),
        *extra,
    ]
    path = tmp_path / "endpointd.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _credentials(tmp_path, mode):
    path = tmp_path / "credentials.yaml"
    path.write_text(KEYS)
    os.chmod(path, mode)
    return str(path)


def _run(endpointd_bin, docker_sock, *args):
    try:
        p = subprocess.run([endpointd_bin, *args], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=15, env=daemon_env(docker_sock))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"endpointd accepted the config and kept running; stderr: {e.stderr!r}")
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def test_check_config_refuses_a_remote_listener_without_credentials(endpointd_bin, docker_sock,
                                                                      tmp_path):
    path = _config(tmp_path, docker_sock, f"0.0.0.0:{free_port()}")
    rc, _, stderr = _run(endpointd_bin, docker_sock, "--check-config", "--config", path)
    assert rc != 0, stderr
    assert re.search(re.escape(path) + r':1:\d+: listen address "0\.0\.0\.0:\d+" is not loopback',
                     stderr), stderr
    assert "auth: { credentials:" in stderr and "allow_remote_without_auth: true" in stderr, stderr


def test_start_refuses_a_remote_listener_without_credentials(endpointd_bin, docker_sock, tmp_path):
    path = _config(tmp_path, docker_sock, f"[::]:{free_port()}")
    rc, _, stderr = _run(endpointd_bin, docker_sock, "--config", path)
    assert rc != 0, stderr
    assert "is not loopback and no credentials are configured" in stderr, stderr


def test_check_config_accepts_a_remote_listener_said_to_be_meant(endpointd_bin, docker_sock,
                                                                  tmp_path):
    path = _config(tmp_path, docker_sock, f"0.0.0.0:{free_port()}",
                   ["allow_remote_without_auth: true"])
    rc, stdout, stderr = _run(endpointd_bin, docker_sock, "--check-config", "--config", path)
    assert rc == 0, stderr
    assert "no credentials;" in stdout, stdout


def test_check_config_counts_the_access_keys(endpointd_bin, docker_sock, tmp_path):
    _credentials(tmp_path, 0o600)
    path = _config(tmp_path, docker_sock, f"0.0.0.0:{free_port()}",
                   ["auth:", "  credentials: credentials.yaml"])
    rc, stdout, stderr = _run(endpointd_bin, docker_sock, "--check-config", "--config", path)
    assert rc == 0, stderr
    assert stdout.startswith(f"{path}: OK (") and ", 2 access keys;" in stdout, stdout


def test_check_config_refuses_credentials_others_may_read(endpointd_bin, docker_sock, tmp_path):
    cred = _credentials(tmp_path, 0o644)
    path = _config(tmp_path, docker_sock, f"127.0.0.1:{free_port()}",
                   ["auth:", f'  credentials: "{cred}"'])
    rc, _, stderr = _run(endpointd_bin, docker_sock, "--check-config", "--config", path)
    assert rc != 0, stderr
    assert f"{cred}: mode 0644" in stderr and f"run chmod 600 {cred}" in stderr, stderr
    assert "wJalrXUtnFEMI" not in stderr
