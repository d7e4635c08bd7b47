"""InvokeEndpoint's errors: unknown or not-ready endpoints, container errors
and a container that does not answer in time (invocation_timeout_s: 2)."""

import time

import pytest

from endpointd_harness import ACCOUNT, INVOCATION_TIMEOUT_S, unique_name
from test_invoke_support import assert_invoke_error, create_in_service, invoke


@pytest.fixture(scope="module")
def failing(api, module_endpoints):
    """Endpoints whose containers answer 400, answer 500, or take 5 s."""
    names = create_in_service(
        module_endpoints,
        api,
        [("e400", "invoke-400-config"), ("e500", "invoke-500-config"), ("late", "invoke-delay-config")],
    )
    return dict(zip(("400", "500", "late"), names))


def test_unknown_endpoint_is_a_validation_error_naming_endpoint_and_account(api):
    name = unique_name("nope")
    r = invoke(api, name, b"x")
    msg = assert_invoke_error(r, 400, "ValidationError")
    assert msg == f"Endpoint {name} of account {ACCOUNT} not found.", r


def test_unknown_endpoint_error_has_a_request_id(api):
    r = invoke(api, unique_name("nope"), b"x")
    assert r.headers.get("x-amzn-requestid"), r


def test_creating_endpoint_is_a_validation_error_naming_its_status(api, endpoints):
    name, _ = endpoints.create("inv-creating", config="slow-config")  # 3 s before its container listens
    r = invoke(api, name, b"x")
    still = api.describe(name)["EndpointStatus"]
    assert still == "Creating", "the endpoint left Creating before the call could be checked"
    msg = assert_invoke_error(r, 400, "ValidationError")
    assert "Creating" in msg, r


@pytest.mark.parametrize("status,kind", [("400", "client"), ("500", "server")])
def test_container_error_is_a_424_model_error(api, failing, status, kind):
    r = invoke(api, failing[status], b"x")
    msg = assert_invoke_error(r, 424, "ModelError")
    assert msg.startswith(f'Received {kind} error ({status}) from primary with message "demo-model error {status}"'), r


@pytest.mark.parametrize("status", ["400", "500"])
def test_model_error_carries_the_containers_status_and_body(api, failing, status):
    r = invoke(api, failing[status], b"x")
    assert r.status == 424, r
    assert r.json.get("OriginalStatusCode") == int(status), r
    assert r.json.get("OriginalMessage") == f"demo-model error {status}", r


def test_container_that_does_not_answer_in_time_is_a_424_model_error(api, failing):
    began = time.monotonic()
    r = invoke(api, failing["late"], b"x", timeout=30)
    took = time.monotonic() - began
    msg = assert_invoke_error(r, 424, "ModelError")
    assert msg.startswith("Received server error (0) from primary"), r
    assert "timed out" in msg, r
    assert INVOCATION_TIMEOUT_S * 0.75 <= took <= INVOCATION_TIMEOUT_S + 2, f"answered after {took:.2f} s: {r!r}"
