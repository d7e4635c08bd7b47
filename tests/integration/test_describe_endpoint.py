"""DescribeEndpoint returns the fields SDK waiters and users read."""

import time

import pytest

from endpointd_harness import endpoint_arn


@pytest.fixture(scope="module")
def described(api, ready_endpoint):
    return api.describe(ready_endpoint)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def test_endpoint_name_and_config_name_are_returned(described, ready_endpoint):
    assert described["EndpointName"] == ready_endpoint
    assert described["EndpointConfigName"] == "demo-config"


def test_endpoint_arn_has_region_account_and_name(described, ready_endpoint):
    assert described["EndpointArn"] == endpoint_arn(ready_endpoint)


def test_creation_time_is_epoch_seconds_as_a_number(described):
    assert _is_number(described["CreationTime"])
    assert abs(described["CreationTime"] - time.time()) < 3600


def test_last_modified_time_is_not_before_creation_time(described):
    assert _is_number(described["LastModifiedTime"])
    assert described["LastModifiedTime"] >= described["CreationTime"]


def test_in_service_endpoint_has_no_failure_reason(described):
    assert described["EndpointStatus"] == "InService"
    assert "FailureReason" not in described


def test_production_variant_reports_weights_and_counts(described):
    (v,) = described["ProductionVariants"]
    assert v["VariantName"] == "AllTraffic"
    assert v["CurrentWeight"] == pytest.approx(1.0)
    assert v["DesiredWeight"] == pytest.approx(1.0)
    assert v["CurrentInstanceCount"] == 1
    assert v["DesiredInstanceCount"] == 1


def test_deployed_image_gives_specified_image(described, demo_image):
    (v,) = described["ProductionVariants"]
    assert v["DeployedImages"][0]["SpecifiedImage"] == demo_image


def test_deployed_image_is_resolved_to_a_sha256_digest(described):
    (v,) = described["ProductionVariants"]
    resolved = v["DeployedImages"][0]["ResolvedImage"]
    assert "@sha256:" in resolved, resolved
    assert len(resolved.split("@sha256:", 1)[1]) == 64, resolved


def test_deployed_image_resolution_time_is_a_number(described):
    (v,) = described["ProductionVariants"]
    assert _is_number(v["DeployedImages"][0]["ResolutionTime"])


def test_resolved_digest_is_the_image_the_engine_runs(described, docker, ready_endpoint):
    (v,) = described["ProductionVariants"]
    digest = v["DeployedImages"][0]["ResolvedImage"].split("@", 1)[1]
    (c,) = docker.endpoint_containers(ready_endpoint)
    image = docker.image(c["ImageID"])
    assert digest == c["ImageID"] or any(d.endswith("@" + digest) for d in image.get("RepoDigests") or []), (
        digest, c["ImageID"], image.get("RepoDigests"))


def test_describe_with_a_differently_cased_name_finds_the_endpoint(api, ready_endpoint):
    d = api.describe(ready_endpoint.upper())
    assert d is not None and d["EndpointArn"].lower() == endpoint_arn(ready_endpoint).lower()
