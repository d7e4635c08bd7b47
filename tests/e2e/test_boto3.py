"""boto3's sagemaker client, pointed at endpointd with endpoint_url, works unchanged."""

import datetime

import pytest

from endpointd_harness import endpoint_arn, unique_name

boto3 = pytest.importorskip("boto3")
botocore_exceptions = pytest.importorskip("botocore.exceptions")
botocore_config = pytest.importorskip("botocore.config")

WAIT = {"Delay": 1, "MaxAttempts": 120}


@pytest.fixture(scope="module")
def sm(api, aws_env):
    mp = pytest.MonkeyPatch()
    for k, v in aws_env.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client = session.client(
        "sagemaker",
        endpoint_url=api.url,
        config=botocore_config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    yield client
    mp.undo()


def test_boto3_create_endpoint_returns_the_arn(sm, endpoints):
    name = endpoints.adopt(unique_name("b3-create"))
    r = sm.create_endpoint(EndpointName=name, EndpointConfigName="demo-config")
    assert r["EndpointArn"] == endpoint_arn(name)


def test_boto3_in_service_waiter_returns_once_in_service(sm, endpoints):
    name = endpoints.adopt(unique_name("b3-wait"))
    sm.create_endpoint(EndpointName=name, EndpointConfigName="demo-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=WAIT)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def test_boto3_in_service_waiter_stops_on_a_failed_endpoint(sm, endpoints):
    name = endpoints.adopt(unique_name("b3-wait-fail"))
    sm.create_endpoint(EndpointName=name, EndpointConfigName="exit-config")
    with pytest.raises(botocore_exceptions.WaiterError) as e:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=WAIT)
    assert "terminal failure state" in str(e.value)


def test_boto3_describe_endpoint_parses_times_and_variants(sm, api, endpoints):
    name, _ = endpoints.create("b3-describe")
    api.wait_in_service(name)
    d = sm.describe_endpoint(EndpointName=name)
    assert d["EndpointStatus"] == "InService"
    assert isinstance(d["CreationTime"], datetime.datetime)
    assert isinstance(d["LastModifiedTime"], datetime.datetime)
    v = d["ProductionVariants"][0]
    assert v["CurrentInstanceCount"] == 1
    assert "@sha256:" in v["DeployedImages"][0]["ResolvedImage"]
    assert isinstance(v["DeployedImages"][0]["ResolutionTime"], datetime.datetime)


def test_boto3_list_endpoints_finds_the_endpoint(sm, endpoints):
    name, _ = endpoints.create("b3-list")
    r = sm.list_endpoints(NameContains=name)
    assert [e["EndpointName"] for e in r["Endpoints"]] == [name]


def test_boto3_paginator_walks_pages_of_one(sm, endpoints):
    a, _ = endpoints.create("b3-page")
    b, _ = endpoints.create("b3-page")
    token = a.rsplit("-", 1)[0]
    pages = list(sm.get_paginator("list_endpoints").paginate(NameContains=token, PaginationConfig={"PageSize": 1}))
    names = [e["EndpointName"] for p in pages for e in p["Endpoints"]]
    assert sorted(names) == sorted([a, b])
    assert len(pages) >= 2


def test_boto3_delete_endpoint_and_deleted_waiter(sm, api, endpoints):
    name, _ = endpoints.create("b3-delete")
    api.wait_in_service(name)
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=WAIT)
    assert api.describe(name) is None


def test_boto3_describe_missing_endpoint_raises_validation_exception(sm):
    with pytest.raises(botocore_exceptions.ClientError) as e:
        sm.describe_endpoint(EndpointName="no-such-endpoint")
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"] == f'Could not find endpoint "{endpoint_arn("no-such-endpoint")}".'
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_boto3_duplicate_create_raises_validation_exception(sm, api, endpoints):
    name, _ = endpoints.create("b3-dup")
    with pytest.raises(botocore_exceptions.ClientError) as e:
        sm.create_endpoint(EndpointName=name, EndpointConfigName="demo-config")
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_boto3_request_id_is_reported(sm):
    r = sm.list_endpoints()
    assert r["ResponseMetadata"]["RequestId"]


def test_boto3_describe_model_and_endpoint_config(sm, demo_image):
    assert sm.describe_model(ModelName="demo")["PrimaryContainer"]["Image"] == demo_image
    cfg = sm.describe_endpoint_config(EndpointConfigName="two-variant-config")
    assert [v["VariantName"] for v in cfg["ProductionVariants"]] == ["VariantA", "VariantB"]


def test_boto3_tags_round_trip(sm, endpoints):
    name, _ = endpoints.create("b3-tags")
    arn = endpoint_arn(name)
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    sm.delete_tags(ResourceArn=arn, TagKeys=["k"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []
