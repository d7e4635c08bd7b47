"""The AWS CLI v2's `sagemaker-runtime invoke-endpoint`, pointed at endpointd, works unchanged."""

import json
import os
import subprocess

import pytest

from test_invoke_support import OCTET, create_in_service, payload

AWS = "/usr/bin/aws"

pytestmark = pytest.mark.skipif(not os.access(AWS, os.X_OK), reason=f"{AWS} is not installed")


@pytest.fixture(scope="module")
def cli_run(api, aws_env, module_endpoints, tmp_path_factory):
    """One `invoke-endpoint` echo call: (sent bytes, written bytes, parsed stdout)."""
    (name,) = create_in_service(module_endpoints, api, [("cli-inv", "invoke-config")])
    d = tmp_path_factory.mktemp("cli-invoke")
    body = payload(100000, seed=11)
    (d / "in.bin").write_bytes(body)
    out = d / "out.bin"
    env = dict(os.environ)
    env.pop("AWS_PROFILE", None)
    env.update(aws_env)
    cmd = [AWS, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", name,
           "--body", f"fileb://{d / 'in.bin'}", "--content-type", OCTET, "--accept", OCTET, str(out),
           "--endpoint-url", api.url, "--output", "json", "--no-cli-pager"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return body, out.read_bytes(), json.loads(p.stdout)


def test_cli_invoke_endpoint_writes_the_echoed_body(cli_run):
    sent, written, _ = cli_run
    assert len(written) == len(sent)
    assert written == sent


def test_cli_invoke_endpoint_prints_the_content_type(cli_run):
    assert cli_run[2].get("ContentType") == OCTET, cli_run[2]


def test_cli_invoke_endpoint_prints_the_invoked_variant(cli_run):
    assert cli_run[2].get("InvokedProductionVariant") == "AllTraffic", cli_run[2]
