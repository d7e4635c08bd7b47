"""Models and endpoint configs from the YAML (main file and includes) are served."""

import pytest

from endpointd_harness import (
    ENDPOINT_CONFIGS,
    INSTANCE_TYPE,
    MISSING_IMAGE,
    MODELS,
    STARTUP_TIMEOUT_S,
    endpoint_config_arn,
    model_arn,
)


def _all(api, op, key):
    out, params = [], {"MaxResults": 100}
    for _ in range(100):
        body = api.ok(op, params)
        out += body[key]
        if not body.get("NextToken"):
            return out
        params["NextToken"] = body["NextToken"]
    raise AssertionError(f"{op} never stopped handing out NextToken")


def test_describe_endpoint_config_names_itself_and_its_arn(api):
    body = api.ok("DescribeEndpointConfig", {"EndpointConfigName": "demo-config"})
    assert body["EndpointConfigName"] == "demo-config"
    assert body["EndpointConfigArn"] == endpoint_config_arn("demo-config")
    assert isinstance(body["CreationTime"], (int, float)) and not isinstance(body["CreationTime"], bool)


def test_describe_endpoint_config_gives_the_variants_from_the_yaml(api):
    body = api.ok("DescribeEndpointConfig", {"EndpointConfigName": "two-variant-config"})
    variants = {v["VariantName"]: v for v in body["ProductionVariants"]}
    assert variants.keys() == {"VariantA", "VariantB"}
    a = variants["VariantA"]
    assert a["ModelName"] == "demo"
    assert a["InitialInstanceCount"] == 2
    assert a["InstanceType"] == INSTANCE_TYPE
    assert a["ContainerStartupHealthCheckTimeoutInSeconds"] == STARTUP_TIMEOUT_S
    assert variants["VariantB"]["ModelName"] == "demo-b"


def test_describe_unknown_endpoint_config_says_could_not_find(api):
    r = api.error("DescribeEndpointConfig", {"EndpointConfigName": "no-such-config"})
    assert r.error_type == "ValidationException", r
    assert r.message == f'Could not find endpoint configuration "{endpoint_config_arn("no-such-config")}".', r


def test_list_endpoint_configs_shows_those_of_main_file_and_includes(api):
    listed = {c["EndpointConfigName"]: c for c in _all(api, "ListEndpointConfigs", "EndpointConfigs")}
    assert set(ENDPOINT_CONFIGS) <= listed.keys()
    for name in ENDPOINT_CONFIGS:
        assert listed[name]["EndpointConfigArn"] == endpoint_config_arn(name)


def test_describe_model_gives_image_and_environment(api, demo_image):
    body = api.ok("DescribeModel", {"ModelName": "demo-slow"})
    assert body["ModelName"] == "demo-slow"
    assert body["ModelArn"] == model_arn("demo-slow")
    assert body["PrimaryContainer"]["Image"] == demo_image
    assert body["PrimaryContainer"]["Environment"] == {"DEMO_START_DELAY_MS": "3000"}


def test_describe_model_from_an_included_file(api):
    body = api.ok("DescribeModel", {"ModelName": "demo-missing"})
    assert body["PrimaryContainer"]["Image"] == MISSING_IMAGE


def test_describe_unknown_model_says_could_not_find(api):
    r = api.error("DescribeModel", {"ModelName": "no-such-model"})
    assert r.error_type == "ValidationException", r
    assert r.message == f'Could not find model "{model_arn("no-such-model")}".', r


def test_list_models_shows_every_configured_model(api):
    listed = {m["ModelName"]: m for m in _all(api, "ListModels", "Models")}
    assert set(MODELS) <= listed.keys()
    for name in MODELS:
        assert listed[name]["ModelArn"] == model_arn(name)


@pytest.mark.parametrize("op,key", [("ListModels", "Models"), ("ListEndpointConfigs", "EndpointConfigs")])
def test_list_pages_of_one_cover_everything(api, op, key):
    everything = [x[key[:-1] + "Name"] for x in _all(api, op, key)]
    seen, params = [], {"MaxResults": 1}
    for _ in range(len(everything) + 5):
        body = api.ok(op, params)
        assert len(body[key]) <= 1
        seen += [x[key[:-1] + "Name"] for x in body[key]]
        if not body.get("NextToken"):
            break
        params["NextToken"] = body["NextToken"]
    assert seen == everything
