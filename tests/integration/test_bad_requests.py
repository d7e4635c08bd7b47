"""Requests that are not well-formed AWS JSON 1.1 get a 4xx and change nothing."""

import json

import pytest

from endpointd_harness import ONE_MIB, unique_name


@pytest.fixture
def unchanged(api):
    """Snapshot of ListEndpoints; call it after the bad request to compare."""
    before = api.endpoint_names()
    return lambda: api.endpoint_names() == before


def _create_body(name=None):
    return json.dumps({"EndpointName": name or unique_name("bad"), "EndpointConfigName": "demo-config"})


def test_unknown_target_is_unknown_operation_exception(api, unchanged):
    r = api.raw(_create_body(), target="SageMaker.CreateEndpointPlease")
    assert r.status == 400, r
    assert r.error_type == "UnknownOperationException", r
    assert unchanged()


def test_unknown_operation_names_its_type_in_the_error_header(api):
    r = api.raw("{}", target="SageMaker.NoSuchOperation")
    assert r.headers.get("x-amzn-errortype", "").split(":")[0] == "UnknownOperationException", r


BAD_BODIES = {
    "malformed-json": '{"EndpointName": "x", "EndpointConfigName": ',
    "not-json-at-all": "EndpointName=x",
    "json-array": "[" + _create_body() + "]",
    "json-string": '"CreateEndpoint"',
    "endpoint-name-is-a-number": '{"EndpointName": 123, "EndpointConfigName": "demo-config"}',
    "endpoint-config-name-is-an-object": '{"EndpointName": "x", "EndpointConfigName": {"a": 1}}',
    "tags-is-an-object": '{"EndpointName": "x", "EndpointConfigName": "demo-config", "Tags": {"Key": "k"}}',
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_create_body_is_a_400_with_type_and_message(api, unchanged, body):
    r = api.raw(body, target="SageMaker.CreateEndpoint")
    assert r.status == 400, r
    assert r.error_type, r
    assert r.message, r
    assert unchanged()


def test_wrong_field_type_is_a_serialization_exception(api):
    r = api.raw(BAD_BODIES["endpoint-name-is-a-number"], target="SageMaker.CreateEndpoint")
    assert r.error_type == "SerializationException", r


def test_malformed_json_is_a_serialization_exception(api):
    r = api.raw(BAD_BODIES["malformed-json"], target="SageMaker.CreateEndpoint")
    assert r.error_type == "SerializationException", r


def test_body_over_1_mib_is_refused_with_413(api, unchanged):
    r = api.send_oversized("CreateEndpoint", ONE_MIB + 1)
    assert r.status == 413, r
    assert unchanged()


def test_body_of_exactly_1_mib_is_accepted(api):
    body = b"{}"
    body = body + b" " * (ONE_MIB - len(body))
    r = api.raw(body, target="SageMaker.ListEndpoints")
    assert r.status == 200, r


def test_oversized_body_does_not_stop_the_daemon_from_serving(api):
    api.send_oversized("CreateEndpoint", 8 * ONE_MIB)
    assert api.call("ListEndpoints", {}).status == 200


def test_missing_target_is_refused(api, unchanged):
    r = api.raw(_create_body(), target=None)
    assert 400 <= r.status < 500, r
    assert unchanged()
