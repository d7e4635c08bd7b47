"""The AWS CLI v2, pointed at endpointd with --endpoint-url, works unchanged."""

import json
import os
import subprocess

import pytest

from endpointd_harness import endpoint_arn, unique_name

AWS = "/usr/bin/aws"

pytestmark = pytest.mark.skipif(not os.access(AWS, os.X_OK), reason=f"{AWS} is not installed")


@pytest.fixture
def aws(api, aws_env):
    env = dict(os.environ)
    env.pop("AWS_PROFILE", None)
    env.update(aws_env)

    def run(*args, timeout=120, check=True):
        cmd = [AWS, "sagemaker", *args, "--endpoint-url", api.url, "--output", "json", "--no-cli-pager"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
        return p

    return run


def test_cli_create_endpoint_prints_the_arn(aws, endpoints):
    name = endpoints.adopt(unique_name("cli-create"))
    out = json.loads(aws("create-endpoint", "--endpoint-name", name, "--endpoint-config-name", "demo-config").stdout)
    assert out == {"EndpointArn": endpoint_arn(name)}


def test_cli_waits_for_endpoint_in_service(aws, api, endpoints):
    name, _ = endpoints.create("cli-wait")
    # The CLI's waiter polls every 30 s; let the first poll be the one that sees
    # InService so the test stays quick while the waiter's acceptors are used.
    api.wait_in_service(name)
    aws("wait", "endpoint-in-service", "--endpoint-name", name, timeout=60)


def test_cli_describe_endpoint_shows_in_service(aws, api, endpoints):
    name, _ = endpoints.create("cli-describe")
    api.wait_in_service(name)
    out = json.loads(aws("describe-endpoint", "--endpoint-name", name).stdout)
    assert out["EndpointName"] == name
    assert out["EndpointStatus"] == "InService"
    assert out["EndpointArn"] == endpoint_arn(name)
    assert out["ProductionVariants"][0]["VariantName"] == "AllTraffic"


def test_cli_list_endpoints_finds_the_endpoint(aws, api, endpoints):
    name, _ = endpoints.create("cli-list")
    out = json.loads(aws("list-endpoints", "--name-contains", name).stdout)
    assert [e["EndpointName"] for e in out["Endpoints"]] == [name]


def test_cli_list_endpoints_follows_next_token_with_pages_of_one(aws, api, endpoints):
    a, _ = endpoints.create("cli-page")
    b, _ = endpoints.create("cli-page")
    token = a.rsplit("-", 1)[0]
    out = json.loads(aws("list-endpoints", "--name-contains", token, "--page-size", "1").stdout)
    assert sorted(e["EndpointName"] for e in out["Endpoints"]) == sorted([a, b])


def test_cli_deletes_endpoint_and_waits_until_deleted(aws, api, endpoints):
    name, _ = endpoints.create("cli-delete")
    api.wait_in_service(name)
    aws("delete-endpoint", "--endpoint-name", name)
    # As above: the waiter's first poll, made after the endpoint is gone,
    # must take DescribeEndpoint's ValidationException as success.
    api.wait_gone(name)
    aws("wait", "endpoint-deleted", "--endpoint-name", name, timeout=60)


def test_cli_describe_missing_endpoint_fails_with_validation_exception(aws):
    p = aws("describe-endpoint", "--endpoint-name", "no-such-endpoint", check=False)
    assert p.returncode != 0
    assert "(ValidationException)" in p.stderr, p.stderr
    assert f'Could not find endpoint "{endpoint_arn("no-such-endpoint")}"' in p.stderr, p.stderr


def test_cli_describe_endpoint_config(aws):
    out = json.loads(aws("describe-endpoint-config", "--endpoint-config-name", "demo-config").stdout)
    assert out["EndpointConfigName"] == "demo-config"
    assert out["ProductionVariants"][0]["ModelName"] == "demo"
