"""boto3's sagemaker-runtime client, pointed at endpointd, invokes endpoints unchanged."""

import json

import pytest

from endpointd_harness import ACCOUNT, unique_name
from test_invoke_support import OCTET, create_in_service, payload

boto3 = pytest.importorskip("boto3")
botocore_exceptions = pytest.importorskip("botocore.exceptions")
botocore_config = pytest.importorskip("botocore.config")

ATTRS = "trace-id=5c1f,mode=test"


@pytest.fixture(scope="module")
def runtime(api, aws_env):
    mp = pytest.MonkeyPatch()
    for k, v in aws_env.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client = session.client(
        "sagemaker-runtime",
        endpoint_url=api.url,
        config=botocore_config.Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30),
    )
    yield client
    mp.undo()


@pytest.fixture(scope="module")
def names(api, module_endpoints):
    routed, failing = create_in_service(
        module_endpoints, api, [("b3-inv", "weighted-config"), ("b3-inv-500", "invoke-500-config")]
    )
    return {"routed": routed, "failing": failing}


@pytest.fixture(scope="module")
def echoed(runtime, names):
    """One echo call with every request member set; (sent body, response)."""
    body = payload(50000, seed=3)
    r = runtime.invoke_endpoint(
        EndpointName=names["routed"],
        Body=body,
        ContentType=OCTET,
        Accept=OCTET,
        CustomAttributes=ATTRS,
        TargetVariant="Light",
    )
    return body, r, r["Body"].read()


def test_boto3_invoke_endpoint_returns_the_body(echoed):
    body, _, got = echoed
    assert got == body


def test_boto3_invoke_endpoint_returns_the_content_type(echoed):
    assert echoed[1]["ContentType"] == OCTET


def test_boto3_invoke_endpoint_returns_the_target_variant_as_invoked(echoed):
    assert echoed[1]["InvokedProductionVariant"] == "Light"


def test_boto3_invoke_endpoint_returns_the_custom_attributes(echoed):
    assert echoed[1]["CustomAttributes"] == ATTRS


def test_boto3_invoke_endpoint_sends_content_type_and_accept(runtime, names):
    r = runtime.invoke_endpoint(EndpointName=names["routed"], Body=b"1,2", ContentType="text/csv",
                                Accept="application/json", TargetVariant="Heavy")
    got = json.loads(r["Body"].read())
    assert (got["content_type"], got["accept"], got["variant"]) == ("text/csv", "application/json", "Heavy")


def test_boto3_container_error_raises_model_error_with_original_status_code(runtime, names):
    with pytest.raises(runtime.exceptions.ModelError) as e:
        runtime.invoke_endpoint(EndpointName=names["failing"], Body=b"x", ContentType=OCTET)
    assert e.value.response["Error"]["Code"] == "ModelError"
    assert e.value.response.get("OriginalStatusCode") == 500, e.value.response
    assert e.value.response.get("OriginalMessage") == "demo-model error 500", e.value.response


def test_boto3_unknown_endpoint_raises_validation_error(runtime):
    name = unique_name("b3-nope")
    with pytest.raises(botocore_exceptions.ClientError) as e:
        runtime.invoke_endpoint(EndpointName=name, Body=b"x", ContentType=OCTET)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError", e.value.response
    assert err["Message"] == f"Endpoint {name} of account {ACCOUNT} not found.", e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
