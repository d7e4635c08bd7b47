"""Every answer is AWS JSON 1.1: content type, request id, error-type header."""

from endpointd_harness import JSON_CT, ONE_MIB


def test_success_has_json_1_1_content_type(api):
    r = api.call("ListEndpoints", {})
    assert r.status == 200
    assert r.headers.get("content-type", "").split(";")[0].strip() == JSON_CT, r


def test_success_has_a_request_id(api):
    assert api.call("ListEndpoints", {}).headers.get("x-amzn-requestid"), "no x-amzn-RequestId"


def test_error_has_json_1_1_content_type(api):
    r = api.call("DescribeEndpoint", {"EndpointName": "no-such-endpoint"})
    assert r.status == 400
    assert r.headers.get("content-type", "").split(";")[0].strip() == JSON_CT, r


def test_error_has_a_request_id(api):
    r = api.call("DescribeEndpoint", {"EndpointName": "no-such-endpoint"})
    assert r.headers.get("x-amzn-requestid"), r


def test_error_type_header_matches_the_body(api):
    r = api.call("DescribeEndpoint", {"EndpointName": "no-such-endpoint"})
    assert r.headers.get("x-amzn-errortype", "").split(":")[0] == "ValidationException", r


def test_unknown_operation_has_a_request_id(api):
    assert api.raw("{}", target="SageMaker.NoSuchOperation").headers.get("x-amzn-requestid")


def test_malformed_json_answer_has_a_request_id(api):
    assert api.raw("{", target="SageMaker.ListEndpoints").headers.get("x-amzn-requestid")


def test_oversized_body_answer_has_a_request_id(api):
    r = api.send_oversized("ListEndpoints", ONE_MIB + 1)
    assert r.headers.get("x-amzn-requestid"), r


def test_request_ids_differ_between_requests(api):
    ids = {api.call("ListEndpoints", {}).headers.get("x-amzn-requestid") for _ in range(5)}
    assert len(ids) == 5, ids


def test_empty_object_body_is_accepted_for_operations_without_parameters(api):
    body = api.ok("ListEndpoints", {})
    assert isinstance(body["Endpoints"], list)
