"""The deploy flows of real MLOps tools, replayed call for call, work unchanged.

Each flow below is the exact sequence of SageMaker calls one tool makes, sent
with boto3 (or the AWS CLI) to the session's daemon, on the real Engine.
After every step that leaves an endpoint serving, the endpoint is invoked.

  - The SageMaker Python SDK: Model.deploy() (CreateModel, tolerating
    "Cannot create already existing model"; CreateEndpointConfig named like
    the endpoint; CreateEndpoint; DescribeEndpoint polled while Creating),
    Predictor.update_endpoint() (a new endpoint config made from
    DescribeEndpointConfig's output and the old config's tags, then
    UpdateEndpoint and the endpoint_in_service waiter), Predictor.delete_model()
    and Predictor.delete_endpoint().
  - MLflow's SageMaker deployment (mlflow.sagemaker): create_deployment
    (ListEndpoints to find the app, CreateModel with a model tarball and tags,
    a variant named after the model, ListEndpoints polled), `replace` mode
    (UpdateEndpoint to a config of the new model alone, DescribeEndpoint
    polled, then the old model and config deleted), `add` mode (UpdateEndpoint
    to the old variants plus a new one of weight 0, which serves nothing until
    UpdateEndpointWeightsAndCapacities gives it weight), and
    delete_deployment.
  - The AWS CLI v2: create-model, create-endpoint-config, describe-model,
    delete-endpoint-config, delete-model.
"""

import json
import os
import secrets
import subprocess
import time

import pytest

from endpointd_harness import (
    CREATE_DEADLINE_S,
    INSTANCE_TYPE,
    POLL_S,
    endpoint_arn,
    endpoint_config_arn,
    model_arn,
    unique_name,
    wait_until,
)

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

AWS = "/usr/bin/aws"
ROLE = "arn:aws:iam::000000000000:role/SageMakerExecutionRole"
JSON_CT = "application/json"
# The prefix sagemaker.session.Session.create_model() takes to mean "this
# model is there already: use it" (anything else is raised to the caller).
SDK_EXISTING_MODEL = "Cannot create already existing model"


# ---------------------------------------------------------------------------
# Clients and cleanup


def _client(api, aws_env, service):
    mp = pytest.MonkeyPatch()
    for k, v in aws_env.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client = session.client(
        service,
        endpoint_url=api.url,
        config=botocore_config.Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30),
    )
    return mp, client


@pytest.fixture(scope="module")
def sm(api, aws_env):
    mp, client = _client(api, aws_env, "sagemaker")
    yield client
    mp.undo()


@pytest.fixture(scope="module")
def runtime(api, aws_env):
    mp, client = _client(api, aws_env, "sagemaker-runtime")
    yield client
    mp.undo()


class Catalog:
    """The models and endpoint configs one test makes; deleted after it."""

    def __init__(self, api):
        self.api = api
        self.models = []
        self.configs = []

    def model(self, name):
        self.models.append(name)
        return name

    def config(self, name):
        self.configs.append(name)
        return name

    def cleanup(self):
        left = []
        for op, key, names in (("DeleteEndpointConfig", "EndpointConfigName", self.configs),
                               ("DeleteModel", "ModelName", self.models)):
            for name in names:
                r = self.api.call(op, {key: name})
                if r.status != 200 and "Could not find" not in (r.message or ""):
                    left.append(f"{op} {name}: {r!r}")
        assert not left, "; ".join(left)


@pytest.fixture
def catalog(api):
    c = Catalog(api)
    yield c
    c.cleanup()


@pytest.fixture
def model_tarball(daemon):
    """The model tarball the harness writes under its model_data_roots."""
    return f"file://{daemon.workdir}/model.tar.gz"


def client_error(call, **params):
    """The botocore ClientError that call(**params) raises."""
    with pytest.raises(botocore_exceptions.ClientError) as e:
        call(**params)
    return e.value


def demo_container(demo_image, marker, model_data_url=None):
    """A PrimaryContainer running the demo model; `marker` comes back in every
    invocation's "variant", which tells which model answered."""
    c = {"Image": demo_image, "Environment": {"DEMO_VARIANT": marker}}
    if model_data_url is not None:
        c["ModelDataUrl"] = model_data_url
    return c


def assert_serves(runtime, endpoint, marker, body=b'{"instances": [[1, 2, 3]]}'):
    """One InvokeEndpoint as Predictor.predict() sends it, answered by the
    model that carries marker."""
    r = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=JSON_CT, Accept=JSON_CT)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = json.loads(r["Body"].read())
    assert got["variant"] == marker, got
    assert got["length"] == len(body), got
    assert got["content_type"] == JSON_CT, got


def assert_no_model(sm, name):
    err = client_error(sm.describe_model, ModelName=name).response["Error"]
    assert err == {"Code": "ValidationException", "Message": f'Could not find model "{model_arn(name)}".'}


def assert_no_endpoint_config(sm, name):
    err = client_error(sm.describe_endpoint_config, EndpointConfigName=name).response["Error"]
    assert err == {
        "Code": "ValidationException",
        "Message": f'Could not find endpoint configuration "{endpoint_config_arn(name)}".',
    }


# ---------------------------------------------------------------------------
# The SageMaker Python SDK (sagemaker.model.Model, sagemaker.predictor.Predictor)


def sdk_create_model(sm, name, container, tags=None):
    """sagemaker.session.Session.create_model(): an existing model is used."""
    request = {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": container}
    if tags:
        request["Tags"] = tags
    try:
        sm.create_model(**request)
    except botocore_exceptions.ClientError as e:
        err = e.response["Error"]
        if not (err["Code"] == "ValidationException" and SDK_EXISTING_MODEL in err["Message"]):
            raise


def sdk_wait_for_endpoint(sm, name):
    """Session.wait_for_endpoint(): DescribeEndpoint until it leaves Creating."""
    deadline = time.monotonic() + CREATE_DEADLINE_S
    statuses = []
    while True:
        d = sm.describe_endpoint(EndpointName=name)
        statuses.append(d["EndpointStatus"])
        if d["EndpointStatus"] not in ("Creating", "Updating"):
            return d, statuses
        assert time.monotonic() < deadline, f"{name} still {statuses[-1]} after {CREATE_DEADLINE_S} s"
        time.sleep(POLL_S)


def sdk_deploy(sm, endpoints, catalog, demo_image, marker, what="sdk", model_data_url=None, tags=None):
    """Model.deploy(initial_instance_count=1, instance_type=..., tags=...):
    the model, an endpoint config named like the endpoint, the endpoint, each
    with the tags, then the wait."""
    model = catalog.model(unique_name(f"{what}-model"))
    endpoint = endpoints.adopt(unique_name(what))
    sdk_create_model(sm, model, demo_container(demo_image, marker, model_data_url), tags)
    config = {
        "EndpointConfigName": catalog.config(endpoint),
        "ProductionVariants": [{
            "ModelName": model,
            "InstanceType": INSTANCE_TYPE,
            "InitialInstanceCount": 1,
            "VariantName": "AllTraffic",
            "InitialVariantWeight": 1,
        }],
    }
    if tags:
        config["Tags"] = tags
    r = sm.create_endpoint_config(**config)
    assert r["EndpointConfigArn"] == endpoint_config_arn(endpoint)
    r = sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint, Tags=tags or [])
    assert r["EndpointArn"] == endpoint_arn(endpoint)
    d, statuses = sdk_wait_for_endpoint(sm, endpoint)
    assert d["EndpointStatus"] == "InService", (statuses, d.get("FailureReason"))
    return model, endpoint


def sdk_endpoint_config_name(sm, endpoint):
    """Predictor._get_endpoint_config_name()."""
    return sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]


def sdk_model_names(sm, endpoint):
    """Predictor._get_model_names()."""
    cfg = sm.describe_endpoint_config(EndpointConfigName=sdk_endpoint_config_name(sm, endpoint))
    return [v["ModelName"] for v in cfg["ProductionVariants"]]


def test_sdk_model_deploy_makes_an_endpoint_that_serves(sm, runtime, endpoints, catalog, demo_image):
    model, endpoint = sdk_deploy(sm, endpoints, catalog, demo_image, "sdk-deploy")
    assert sm.describe_model(ModelName=model)["PrimaryContainer"]["Environment"] == {"DEMO_VARIANT": "sdk-deploy"}
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == endpoint
    assert_serves(runtime, endpoint, "sdk-deploy")


def test_sdk_create_model_again_gets_the_message_the_sdk_tolerates(sm, catalog, demo_image):
    name = catalog.model(unique_name("sdk-again"))
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=demo_container(demo_image, "first"))
    e = client_error(sm.create_model, ModelName=name, ExecutionRoleArn=ROLE,
                     PrimaryContainer=demo_container(demo_image, "first"))
    err = e.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith(SDK_EXISTING_MODEL), err["Message"]
    assert err["Message"] == f'Cannot create already existing model "{model_arn(name)}".'
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # So Model.deploy() run twice goes on with the model it made the first time.
    sdk_create_model(sm, name, demo_container(demo_image, "second"))
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Environment"] == {"DEMO_VARIANT": "first"}


def test_sdk_update_endpoint_rolls_out_a_config_made_from_the_old_ones_description(
        sm, runtime, endpoints, catalog, demo_image):
    team = [{"Key": "team", "Value": "ml"}]
    _, endpoint = sdk_deploy(sm, endpoints, catalog, demo_image, "sdk-update", tags=team)
    # Predictor.update_endpoint() -> Session.create_endpoint_config_from_existing().
    sdk_model_names(sm, endpoint)
    old_name = sdk_endpoint_config_name(sm, endpoint)
    old = sm.describe_endpoint_config(EndpointConfigName=old_name)
    tags = sm.list_tags(ResourceArn=old["EndpointConfigArn"], MaxResults=50)["Tags"]
    assert tags == team
    new_name = catalog.config(unique_name("sdk-update-cfg"))
    request = {"EndpointConfigName": new_name, "ProductionVariants": old["ProductionVariants"]}
    request["Tags"] = [t for t in tags if not t["Key"].startswith("aws:")]
    r = sm.create_endpoint_config(**request)
    assert r["EndpointConfigArn"] == endpoint_config_arn(new_name)
    new = sm.describe_endpoint_config(EndpointConfigName=new_name)
    assert new["ProductionVariants"] == old["ProductionVariants"]
    assert sm.list_tags(ResourceArn=new["EndpointConfigArn"])["Tags"] == tags
    # Session.update_endpoint(): UpdateEndpoint, then wait_for_endpoint().
    r = sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_name)
    assert r["EndpointArn"] == endpoint_arn(endpoint)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
    sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig={"Delay": 1})
    d = sm.describe_endpoint(EndpointName=endpoint)
    assert d["EndpointConfigName"] == new_name
    assert "FailureReason" not in d
    assert_serves(runtime, endpoint, "sdk-update")


def test_sdk_delete_model_then_delete_endpoint_leave_nothing(sm, runtime, api, endpoints, catalog, demo_image,
                                                             model_tarball):
    model, endpoint = sdk_deploy(sm, endpoints, catalog, demo_image, "sdk-delete", model_data_url=model_tarball)
    # Predictor.delete_model(): every model of the endpoint's config.
    names = sdk_model_names(sm, endpoint)
    assert names == [model]
    for name in names:
        assert sm.delete_model(ModelName=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_serves(runtime, endpoint, "sdk-delete")
    # Predictor.delete_endpoint(delete_endpoint_config=True).
    config = sdk_endpoint_config_name(sm, endpoint)
    assert config == endpoint
    sm.delete_endpoint_config(EndpointConfigName=config)
    assert_serves(runtime, endpoint, "sdk-delete")
    sm.delete_endpoint(EndpointName=endpoint)
    api.wait_gone(endpoint)
    assert_no_model(sm, model)
    assert_no_endpoint_config(sm, config)
    err = client_error(sm.describe_endpoint, EndpointName=endpoint).response["Error"]
    assert err["Message"] == f'Could not find endpoint "{endpoint_arn(endpoint)}".'


# ---------------------------------------------------------------------------
# MLflow (mlflow.sagemaker: SageMakerDeploymentClient)


def mlflow_find_endpoint(sm, app):
    """mlflow.sagemaker._find_endpoint(): ListEndpoints pages, exact match."""
    page = sm.list_endpoints(MaxResults=100, NameContains=app)
    while True:
        for e in page["Endpoints"]:
            if e["EndpointName"] == app:
                return e
        if "NextToken" not in page:
            return None
        page = sm.list_endpoints(MaxResults=100, NextToken=page["NextToken"], NameContains=app)


def mlflow_create_model(sm, catalog, app, demo_image, model_data_url, marker):
    """mlflow.sagemaker._create_sagemaker_model(): the model is named after the app."""
    name = catalog.model(f"{app}-model-{secrets.token_hex(4)}")
    environment = {
        "MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function",
        "SERVING_ENVIRONMENT": "SageMaker",
        "DEMO_VARIANT": marker,
    }
    r = sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": demo_image, "ModelDataUrl": model_data_url, "Environment": environment},
        ExecutionRoleArn=ROLE,
        Tags=[{"Key": "model_name", "Value": name}],
    )
    assert r["ModelArn"] == model_arn(name)
    return name


def mlflow_variant(model, weight):
    return {
        "VariantName": model,
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": INSTANCE_TYPE,
        "InitialVariantWeight": weight,
    }


def mlflow_create_endpoint_config(sm, catalog, app, variants):
    name = catalog.config(f"{app}-config-{secrets.token_hex(4)}")
    r = sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=variants, Tags=[{"Key": "app_name", "Value": app}]
    )
    assert r["EndpointConfigArn"] == endpoint_config_arn(name)
    return name


def mlflow_create_deployment(sm, endpoints, catalog, demo_image, model_data_url, what, marker):
    """SageMakerDeploymentClient.create_deployment(), synchronous, mode create."""
    app = endpoints.adopt(unique_name(what))
    assert mlflow_find_endpoint(sm, app) is None
    model = mlflow_create_model(sm, catalog, app, demo_image, model_data_url, marker)
    config = mlflow_create_endpoint_config(sm, catalog, app, [mlflow_variant(model, 1)])
    r = sm.create_endpoint(EndpointName=app, EndpointConfigName=config, Tags=[])
    assert r["EndpointArn"] == endpoint_arn(app)
    # The status check: ListEndpoints again until the app is not Creating.
    statuses = [mlflow_find_endpoint(sm, app)["EndpointStatus"]]
    deadline = time.monotonic() + CREATE_DEADLINE_S
    while statuses[-1] == "Creating" and time.monotonic() < deadline:
        time.sleep(POLL_S)
        statuses.append(mlflow_find_endpoint(sm, app)["EndpointStatus"])
    return app, model, config, statuses


def test_mlflow_create_deployment_lists_creating_then_in_service(sm, runtime, endpoints, catalog, demo_image,
                                                                 model_tarball):
    app, model, _, statuses = mlflow_create_deployment(sm, endpoints, catalog, demo_image, model_tarball,
                                                       "mlf-create", "mlf-create")
    assert statuses[0] == "Creating", statuses
    assert statuses[-1] == "InService", statuses
    assert set(statuses) == {"Creating", "InService"}, statuses
    assert sm.list_tags(ResourceArn=model_arn(model))["Tags"] == [{"Key": "model_name", "Value": model}]
    assert_serves(runtime, app, "mlf-create")


def test_mlflow_model_data_tarball_is_what_describe_model_gives_back(sm, catalog, demo_image, model_tarball):
    model = mlflow_create_model(sm, catalog, unique_name("mlf-data"), demo_image, model_tarball, "x")
    c = sm.describe_model(ModelName=model)["PrimaryContainer"]
    assert c["ModelDataUrl"] == model_tarball
    assert c["Image"] == demo_image


def test_mlflow_replace_mode_updates_then_deletes_the_old_model_and_config(
        sm, runtime, endpoints, catalog, demo_image, model_tarball):
    app, _, _, statuses = mlflow_create_deployment(sm, endpoints, catalog, demo_image, model_tarball,
                                                   "mlf-replace", "old")
    assert statuses[-1] == "InService", statuses
    assert_serves(runtime, app, "old")
    # _update_sagemaker_endpoint(mode="replace"): what is deployed now ...
    assert mlflow_find_endpoint(sm, app) is not None
    info = sm.describe_endpoint(EndpointName=app)
    deployed_config = info["EndpointConfigName"]
    deployed_variants = sm.describe_endpoint_config(EndpointConfigName=deployed_config)["ProductionVariants"]
    # ... a new model and a config that holds it alone ...
    new_model = mlflow_create_model(sm, catalog, app, demo_image, model_tarball, "new")
    # ... UpdateEndpoint, DescribeEndpoint polled until it is InService ...
    new_config = mlflow_create_endpoint_config(sm, catalog, app, [mlflow_variant(new_model, 1)])
    sm.update_endpoint(EndpointName=app, EndpointConfigName=new_config)
    wait_until(lambda: sm.describe_endpoint(EndpointName=app)["EndpointStatus"] == "InService",
               CREATE_DEADLINE_S, what=f"{app} to be updated")
    assert_serves(runtime, app, "new")
    # ... and the cleanup of the old ones.
    for pv in deployed_variants:
        m = sm.describe_model(ModelName=pv["ModelName"])
        assert m["PrimaryContainer"]["ModelDataUrl"] == model_tarball
        r = sm.delete_model(ModelName=pv["ModelName"])
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert_no_model(sm, pv["ModelName"])
        assert_serves(runtime, app, "new")
    sm.delete_endpoint_config(EndpointConfigName=deployed_config)
    assert_no_endpoint_config(sm, deployed_config)
    assert_serves(runtime, app, "new")
    d = sm.describe_endpoint(EndpointName=app)
    assert d["EndpointStatus"] == "InService"
    assert d["EndpointConfigName"] == new_config


def test_mlflow_add_mode_variant_of_weight_zero_serves_once_weighted(
        sm, runtime, endpoints, catalog, demo_image, model_tarball):
    app, _, _, statuses = mlflow_create_deployment(sm, endpoints, catalog, demo_image, model_tarball,
                                                   "mlf-add", "old")
    assert statuses[-1] == "InService", statuses
    info = sm.describe_endpoint(EndpointName=app)
    deployed = sm.describe_endpoint_config(EndpointConfigName=info["EndpointConfigName"])
    new_model = mlflow_create_model(sm, catalog, app, demo_image, model_tarball, "new")
    variants = deployed["ProductionVariants"] + [mlflow_variant(new_model, 0)]
    config = mlflow_create_endpoint_config(sm, catalog, app, variants)
    got = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in got] == [
        (deployed["ProductionVariants"][0]["VariantName"], 1.0),
        (new_model, 0.0),
    ]
    sm.update_endpoint(EndpointName=app, EndpointConfigName=config)
    wait_until(lambda: sm.describe_endpoint(EndpointName=app)["EndpointStatus"] == "InService",
               CREATE_DEADLINE_S, what=f"{app} to be updated")
    d = sm.describe_endpoint(EndpointName=app)
    assert [(v["VariantName"], v["CurrentWeight"]) for v in d["ProductionVariants"]] == [
        (deployed["ProductionVariants"][0]["VariantName"], 1.0), (new_model, 0.0)]
    for _ in range(5):
        assert_serves(runtime, app, "old")  # weight 0: the new variant gets nothing yet
    # Then the weights move to the new model.
    sm.update_endpoint_weights_and_capacities(EndpointName=app, DesiredWeightsAndCapacities=[
        {"VariantName": deployed["ProductionVariants"][0]["VariantName"], "DesiredWeight": 0.0},
        {"VariantName": new_model, "DesiredWeight": 1.0}])
    wait_until(lambda: sm.describe_endpoint(EndpointName=app)["EndpointStatus"] == "InService",
               CREATE_DEADLINE_S, what=f"{app}'s weights")
    for _ in range(5):
        assert_serves(runtime, app, "new")


def test_mlflow_delete_deployment_removes_endpoint_models_and_config(sm, runtime, endpoints, catalog, demo_image,
                                                                     model_tarball):
    app, model, config, statuses = mlflow_create_deployment(sm, endpoints, catalog, demo_image, model_tarball,
                                                             "mlf-delete", "gone")
    assert statuses[-1] == "InService", statuses
    # _delete(): what is deployed, DeleteEndpoint, ListEndpoints until it is
    # gone, then every model (DescribeModel first) and the config.
    info = sm.describe_endpoint(EndpointName=app)
    variants = sm.describe_endpoint_config(EndpointConfigName=info["EndpointConfigName"])["ProductionVariants"]
    sm.delete_endpoint(EndpointName=app)
    wait_until(lambda: mlflow_find_endpoint(sm, app) is None, CREATE_DEADLINE_S, what=f"{app} to go")
    for pv in variants:
        sm.describe_model(ModelName=pv["ModelName"])
        sm.delete_model(ModelName=pv["ModelName"])
    sm.delete_endpoint_config(EndpointConfigName=info["EndpointConfigName"])
    assert_no_model(sm, model)
    assert_no_endpoint_config(sm, config)


# ---------------------------------------------------------------------------
# The AWS CLI v2


@pytest.fixture
def aws(api, aws_env):
    if not os.access(AWS, os.X_OK):
        pytest.skip(f"{AWS} is not installed")
    env = dict(os.environ)
    env.pop("AWS_PROFILE", None)
    env.update(aws_env)

    def run(*args, check=True):
        cmd = [AWS, "sagemaker", *args, "--endpoint-url", api.url, "--output", "json", "--no-cli-pager"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
        return p

    return run


def test_cli_creates_describes_and_deletes_a_model_and_its_config(aws, catalog, demo_image, model_tarball):
    model = catalog.model(unique_name("cli-model"))
    config = catalog.config(unique_name("cli-config"))
    container = {"Image": demo_image, "ModelDataUrl": model_tarball, "Environment": {"DEMO_VARIANT": "cli"}}
    out = aws("create-model", "--model-name", model, "--execution-role-arn", ROLE,
              "--primary-container", json.dumps(container), "--tags", "Key=owner,Value=cli")
    assert json.loads(out.stdout) == {"ModelArn": model_arn(model)}

    variants = [{"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
                 "InstanceType": INSTANCE_TYPE, "InitialVariantWeight": 1.0}]
    out = aws("create-endpoint-config", "--endpoint-config-name", config,
              "--production-variants", json.dumps(variants))
    assert json.loads(out.stdout) == {"EndpointConfigArn": endpoint_config_arn(config)}

    d = json.loads(aws("describe-model", "--model-name", model).stdout)
    assert d["ModelName"] == model
    assert d["ModelArn"] == model_arn(model)
    assert d["ExecutionRoleArn"] == ROLE
    assert d["PrimaryContainer"]["Image"] == demo_image
    assert d["PrimaryContainer"]["ModelDataUrl"] == model_tarball
    assert d["PrimaryContainer"]["Environment"] == {"DEMO_VARIANT": "cli"}
    assert "CreationTime" in d

    out = aws("delete-endpoint-config", "--endpoint-config-name", config)
    assert out.stdout.strip() == ""
    out = aws("delete-model", "--model-name", model)
    assert out.stdout.strip() == ""

    p = aws("describe-model", "--model-name", model, check=False)
    assert p.returncode != 0
    assert "(ValidationException)" in p.stderr, p.stderr
    assert f'Could not find model "{model_arn(model)}".' in p.stderr, p.stderr
    p = aws("describe-endpoint-config", "--endpoint-config-name", config, check=False)
    assert p.returncode != 0
    assert f'Could not find endpoint configuration "{endpoint_config_arn(config)}".' in p.stderr, p.stderr


def test_cli_create_model_again_fails_with_the_existing_models_arn(aws, catalog, demo_image):
    model = catalog.model(unique_name("cli-again"))
    container = json.dumps({"Image": demo_image})
    aws("create-model", "--model-name", model, "--execution-role-arn", ROLE, "--primary-container", container)
    p = aws("create-model", "--model-name", model, "--execution-role-arn", ROLE, "--primary-container", container,
            check=False)
    assert p.returncode != 0
    assert "(ValidationException)" in p.stderr, p.stderr
    assert f'Cannot create already existing model "{model_arn(model)}".' in p.stderr, p.stderr
