"""CreateEndpoint refuses bad requests with ValidationException and changes nothing."""

import pytest

from endpointd_harness import assert_validation_error, endpoint_arn, endpoint_config_arn, unique_name


def test_duplicate_name_in_other_letter_case_is_refused(api, ready_endpoint):
    other = ready_endpoint.upper()
    assert other != ready_endpoint
    r = api.error("CreateEndpoint", {"EndpointName": other, "EndpointConfigName": "demo-config"})
    assert r.error_type == "ValidationException", r
    # Either spelling of the name may appear in the ARN; the words may not vary.
    assert (r.message or "").lower() == f'Cannot create already existing endpoint "{endpoint_arn(ready_endpoint)}".'.lower(), r


def test_duplicate_name_in_same_case_is_refused_with_its_arn(api, ready_endpoint):
    r = api.error("CreateEndpoint", {"EndpointName": ready_endpoint, "EndpointConfigName": "demo-config"})
    assert r.error_type == "ValidationException", r
    assert r.message == f'Cannot create already existing endpoint "{endpoint_arn(ready_endpoint)}".', r


def test_refused_duplicate_leaves_first_endpoint_unchanged(api, ready_endpoint):
    before = api.describe(ready_endpoint)
    api.error("CreateEndpoint", {"EndpointName": ready_endpoint.upper(), "EndpointConfigName": "slow-config"})
    after = api.describe(ready_endpoint)
    assert after == before


def test_refused_duplicate_adds_no_endpoint(api, ready_endpoint):
    before = api.endpoint_names()
    api.error("CreateEndpoint", {"EndpointName": ready_endpoint.upper(), "EndpointConfigName": "demo-config"})
    assert api.endpoint_names() == before


INVALID_NAMES = {
    "underscore": "bad_name",
    "64-characters": "a" * 64,
    "leading-hyphen": "-leading",
    "trailing-hyphen": "trailing-",
    "empty": "",
    "dot": "a.b",
}


@pytest.mark.parametrize("name", INVALID_NAMES.values(), ids=INVALID_NAMES.keys())
def test_invalid_endpoint_name_is_refused_with_validation_error(api, name):
    r = api.call("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    assert_validation_error(r, field="endpointName", contains=[f"Value '{name}'"])


@pytest.mark.parametrize("name", INVALID_NAMES.values(), ids=INVALID_NAMES.keys())
def test_invalid_endpoint_name_creates_nothing(api, name):
    before = api.endpoint_names()
    api.call("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config"})
    assert api.endpoint_names() == before


def test_63_character_name_is_accepted(api, endpoints):
    name = (unique_name("long") + "x" * 63)[:63]
    endpoints.create("long", name=name)
    assert api.describe(name)["EndpointName"] == name


def test_51_tags_are_refused(api):
    name = unique_name("tags51")
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    r = api.call("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "demo-config", "Tags": tags})
    assert r.status == 400, r
    assert r.error_type == "ValidationException", r
    assert "tags" in (r.message or "").lower() and "50" in r.message, r
    assert api.describe(name) is None


def test_50_tags_are_accepted(api, endpoints):
    tags = [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(50)]
    name, _ = endpoints.create("tags50", tags=tags)
    got = api.ok("ListTags", {"ResourceArn": endpoint_arn(name), "MaxResults": 100})["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in got) == sorted((t["Key"], t["Value"]) for t in tags)


def test_unknown_endpoint_config_is_refused(api):
    name = unique_name("no-config")
    r = api.error("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "no-such-config"})
    assert r.error_type == "ValidationException", r
    assert r.message == f'Could not find endpoint configuration "{endpoint_config_arn("no-such-config")}".', r


def test_unknown_endpoint_config_creates_nothing(api):
    before = api.endpoint_names()
    api.call("CreateEndpoint", {"EndpointName": unique_name("no-config"), "EndpointConfigName": "no-such-config"})
    assert api.endpoint_names() == before


def test_missing_endpoint_config_name_is_refused(api):
    r = api.error("CreateEndpoint", {"EndpointName": unique_name("no-config-field")})
    assert r.error_type == "ValidationException", r
