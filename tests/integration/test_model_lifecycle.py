"""CreateModel, CreateEndpointConfig, DeleteModel and DeleteEndpointConfig
against the real daemon and Engine, in raw AWS JSON 1.1 (so that the
daemon's own validation is what answers, not a client's).

Map of this file:
  - helpers: model and config documents, `refused` (an error answer, its
    exact words, and nothing changed in ListModels / ListEndpointConfigs)
  - the life cycle: CreateModel -> DescribeModel -> ListModels ->
    CreateEndpointConfig -> DescribeEndpointConfig (fed back) ->
    CreateEndpoint -> invoke -> DeleteModel and DeleteEndpointConfig while
    it serves -> CreateEndpoint from a config whose model is gone
  - validation: every rule of CreateModel and CreateEndpointConfig with the
    message it answers, wrong JSON types, several errors in one message
  - duplicates, YAML resources, allowed_images, model data, tags
  - limits: a daemon of its own with max_models 2 and max_endpoint_configs 1
"""

import pytest

from endpointd_harness import (
    INSTANCE_TYPE,
    Daemon,
    ApiClient,
    endpoint_config_arn,
    model_arn,
    unique_name,
)
from test_invoke_support import invoke

ROLE = "arn:aws:iam::123456789012:role/endpointd-test"
NOT_ALLOWED_IMAGE = "endpointd-not-allowed:latest"


def model_doc(name, image, **extra):
    doc = {"ModelName": name, "PrimaryContainer": {"Image": image}}
    doc.update(extra)
    return doc


def container_doc(name, image, **container):
    """A model whose PrimaryContainer has the members given."""
    return {"ModelName": name, "PrimaryContainer": dict(Image=image, **container)}


def variant(model, **extra):
    v = {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
         "InstanceType": INSTANCE_TYPE}
    v.update(extra)
    return v


def config_doc(name, model, **extra):
    return {"EndpointConfigName": name, "ProductionVariants": [variant(model, **extra)]}


def all_names(api, op, key, name_key):
    """Every name op lists, following NextToken."""
    out, params = [], {"MaxResults": 100}
    for _ in range(100):
        body = api.ok(op, params)
        out += [item[name_key] for item in body[key]]
        if not body.get("NextToken"):
            return sorted(out)
        params["NextToken"] = body["NextToken"]
    raise AssertionError(f"{op} never stopped handing out NextToken")


def catalog(api):
    """What ListModels and ListEndpointConfigs show."""
    return (all_names(api, "ListModels", "Models", "ModelName"),
            all_names(api, "ListEndpointConfigs", "EndpointConfigs", "EndpointConfigName"))


def refused(api, op, params, message, error_type="ValidationException"):
    """op answers 400 error_type with exactly message, and changes nothing.

    message may be a (prefix, suffix) pair where the daemon shortens a long
    value with an ellipsis."""
    before = catalog(api)
    r = api.error(op, params)
    assert r.error_type == error_type, r
    if isinstance(message, tuple):
        prefix, suffix = message
        assert r.message.startswith(prefix) and r.message.endswith(suffix), r.message
    else:
        assert r.message == message, r.message
    assert catalog(api) == before, f"{op} was refused but ListModels/ListEndpointConfigs changed"
    return r


def at_least(n):
    return f"Member must have value greater than or equal to {n}"


def at_most(n):
    return f"Member must have value less than or equal to {n}"


def one_error(value, field, constraint):
    shown = "null" if value is None else f"'{value}'"
    return f"1 validation error detected: Value {shown} at '{field}' failed to satisfy constraint: {constraint}"


NAME_PATTERN = r"Member must satisfy regular expression pattern: ^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
VARIANT_PATTERN = r"Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
ROLE_PATTERN = (r"Member must satisfy regular expression pattern: "
                r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
UNSUPPORTED = "Member is not supported by endpointd: "
NO_ISOLATION = UNSUPPORTED + "set EnableNetworkIsolation on the model (CreateModel) instead"
KNOWN_TYPES = ("Member must be an instance type this host defines (instance_types in the daemon config): "
               f"[{INSTANCE_TYPE}]")
VARIANT1 = "productionVariants.1.member"


@pytest.fixture
def image(demo_image):
    return demo_image


@pytest.fixture
def made(api):
    """Names of API models and configs a test creates; deleted after it."""
    names = {"models": [], "configs": []}
    yield names
    for n in names["configs"]:
        api.call("DeleteEndpointConfig", {"EndpointConfigName": n})
    for n in names["models"]:
        api.call("DeleteModel", {"ModelName": n})


@pytest.fixture
def api_model(api, image, made):
    """An API model of the demo image, with a role and a tag."""
    name = unique_name("model")
    made["models"].append(name)
    api.ok("CreateModel", model_doc(name, image, ExecutionRoleArn=ROLE,
                                    Tags=[{"Key": "team", "Value": "search"}]))
    return name


@pytest.fixture
def api_config(api, api_model, made):
    name = unique_name("config")
    made["configs"].append(name)
    api.ok("CreateEndpointConfig", config_doc(name, api_model, InitialVariantWeight=1.0))
    return name


# ---------------------------------------------------------------------------
# CreateModel, DescribeModel, ListModels


def test_create_model_answers_the_model_arn(api, image, made):
    name = unique_name("model")
    made["models"].append(name)
    body = api.ok("CreateModel", model_doc(name, image))
    assert body == {"ModelArn": model_arn(name)}


def test_describe_model_shows_what_was_given_and_sagemakers_defaults(api, api_model, image):
    d = api.ok("DescribeModel", {"ModelName": api_model})
    assert d["ModelName"] == api_model
    assert d["ModelArn"] == model_arn(api_model)
    assert d["PrimaryContainer"] == {"Image": image, "Mode": "SingleModel", "Environment": {}}
    assert d["EnableNetworkIsolation"] is False
    assert d["ExecutionRoleArn"] == ROLE
    assert isinstance(d["CreationTime"], (int, float)) and d["CreationTime"] > 1.6e9
    assert "Containers" not in d


def test_describe_model_of_one_given_as_containers_shows_containers(api, image, made):
    name = unique_name("model")
    made["models"].append(name)
    api.ok("CreateModel", {"ModelName": name, "Containers": [{"Image": image, "Environment": {"A": "1"}}]})
    d = api.ok("DescribeModel", {"ModelName": name})
    assert d["Containers"] == [{"Image": image, "Mode": "SingleModel", "Environment": {"A": "1"}}]
    assert "PrimaryContainer" not in d
    assert "ExecutionRoleArn" not in d


def test_describe_model_finds_a_model_whatever_the_case_of_its_name(api, api_model):
    d = api.ok("DescribeModel", {"ModelName": api_model.upper()})
    assert d["ModelName"] == api_model


def test_list_models_shows_api_and_yaml_models_together(api, api_model):
    models, _ = catalog(api)
    assert api_model in models
    assert "demo" in models and "demo-b" in models  # the main YAML file and the included one


def test_list_models_name_contains_finds_api_models(api, api_model):
    body = api.ok("ListModels", {"NameContains": api_model[-8:].upper()})
    assert [m["ModelName"] for m in body["Models"]] == [api_model]
    assert body["Models"][0]["ModelArn"] == model_arn(api_model)


def test_list_models_sorts_api_and_yaml_models_by_name(api, api_model):
    asc = api.ok("ListModels", {"SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 100})["Models"]
    names = [m["ModelName"] for m in asc]
    assert api_model in names and "demo" in names
    assert names == sorted(names, key=str.lower)
    desc = api.ok("ListModels", {"SortBy": "Name", "SortOrder": "Descending", "MaxResults": 100})["Models"]
    assert [m["ModelName"] for m in desc] == names[::-1]


def test_list_models_newest_first_puts_an_api_model_before_the_yaml_ones(api, api_model):
    body = api.ok("ListModels", {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100})
    times = [m["CreationTime"] for m in body["Models"]]
    assert times == sorted(times, reverse=True)
    names = [m["ModelName"] for m in body["Models"]]
    assert names.index(api_model) < names.index("demo")


# ---------------------------------------------------------------------------
# CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs


def test_create_endpoint_config_answers_its_arn(api, api_model, made):
    name = unique_name("config")
    made["configs"].append(name)
    body = api.ok("CreateEndpointConfig", config_doc(name, api_model))
    assert body == {"EndpointConfigArn": endpoint_config_arn(name)}


def test_describe_endpoint_config_shows_the_variants_with_defaults(api, api_config, api_model):
    d = api.ok("DescribeEndpointConfig", {"EndpointConfigName": api_config})
    assert d["EndpointConfigName"] == api_config
    assert d["EndpointConfigArn"] == endpoint_config_arn(api_config)
    assert isinstance(d["CreationTime"], (int, float))
    assert d["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "ModelName": api_model, "InitialInstanceCount": 1,
        "InstanceType": INSTANCE_TYPE, "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": 240,
        "ModelDataDownloadTimeoutInSeconds": 1200,
    }]


def test_describe_endpoint_config_output_fed_back_into_create_is_accepted(api, api_config, made):
    d = api.ok("DescribeEndpointConfig", {"EndpointConfigName": api_config})
    again = unique_name("config")
    made["configs"].append(again)
    d["EndpointConfigName"] = again
    body = api.ok("CreateEndpointConfig", d)
    assert body == {"EndpointConfigArn": endpoint_config_arn(again)}
    copy = api.ok("DescribeEndpointConfig", {"EndpointConfigName": again})
    assert copy["ProductionVariants"] == d["ProductionVariants"]


def test_a_yaml_endpoint_config_description_fed_back_into_create_is_accepted(api, made):
    d = api.ok("DescribeEndpointConfig", {"EndpointConfigName": "two-variant-config"})
    again = unique_name("config")
    made["configs"].append(again)
    d["EndpointConfigName"] = again
    api.ok("CreateEndpointConfig", d)
    copy = api.ok("DescribeEndpointConfig", {"EndpointConfigName": again})
    assert copy["ProductionVariants"] == d["ProductionVariants"]


def test_an_endpoint_config_may_use_a_yaml_model(api, made):
    name = unique_name("config")
    made["configs"].append(name)
    api.ok("CreateEndpointConfig", config_doc(name, "demo"))


def test_list_endpoint_configs_shows_api_and_yaml_configs_together(api, api_config):
    _, configs = catalog(api)
    assert api_config in configs and "demo-config" in configs and "two-variant-config" in configs


def test_list_endpoint_configs_name_contains_and_sorting(api, api_config):
    body = api.ok("ListEndpointConfigs", {"NameContains": api_config[-8:].upper()})
    assert [c["EndpointConfigName"] for c in body["EndpointConfigs"]] == [api_config]
    body = api.ok("ListEndpointConfigs", {"SortBy": "Name", "SortOrder": "Descending", "MaxResults": 100})
    names = [c["EndpointConfigName"] for c in body["EndpointConfigs"]]
    assert api_config in names and "demo-config" in names
    assert names == sorted(names, key=str.lower, reverse=True)


# ---------------------------------------------------------------------------
# An endpoint made from API resources, which are then deleted under it


class Served:
    pass


@pytest.fixture(scope="module")
def served(api, demo_image, module_endpoints):
    """An API model and config, an endpoint from them InService, then the
    model and the config deleted while it runs.  A second config of the same
    model (made from the first one's description) is kept."""
    s = Served()
    s.model = unique_name("model")
    s.config = unique_name("config")
    s.copy = unique_name("config")
    api.ok("CreateModel", model_doc(s.model, demo_image, ExecutionRoleArn=ROLE))
    api.ok("CreateEndpointConfig", config_doc(s.config, s.model))
    d = api.ok("DescribeEndpointConfig", {"EndpointConfigName": s.config})
    d["EndpointConfigName"] = s.copy
    api.ok("CreateEndpointConfig", d)
    s.endpoint, _ = module_endpoints.create("api-made", config=s.config)
    api.wait_in_service(s.endpoint)
    s.invoke_before = invoke(api, s.endpoint, b'{"x": 1}', content_type="application/json")
    s.delete_model = api.call("DeleteModel", {"ModelName": s.model})
    s.delete_config = api.call("DeleteEndpointConfig", {"EndpointConfigName": s.config})
    yield s
    api.call("DeleteEndpointConfig", {"EndpointConfigName": s.copy})


def test_an_endpoint_from_api_resources_serves_invocations(served):
    assert served.invoke_before.status == 200, served.invoke_before


def test_delete_model_answers_empty_while_an_endpoint_uses_it(served):
    assert served.delete_model.status == 200, served.delete_model
    assert served.delete_model.json == {}


def test_delete_endpoint_config_answers_empty_while_an_endpoint_uses_it(served):
    assert served.delete_config.status == 200, served.delete_config
    assert served.delete_config.json == {}


def test_deleted_model_and_config_are_gone_from_describe_and_list(api, served):
    refused(api, "DescribeModel", {"ModelName": served.model},
            f'Could not find model "{model_arn(served.model)}".')
    refused(api, "DescribeEndpointConfig", {"EndpointConfigName": served.config},
            f'Could not find endpoint configuration "{endpoint_config_arn(served.config)}".')
    models, configs = catalog(api)
    assert served.model not in models and served.config not in configs


def test_invocations_still_work_after_the_model_and_config_are_deleted(api, served):
    r = invoke(api, served.endpoint, b'{"x": 2}', content_type="application/json")
    assert r.status == 200, r


def test_describe_endpoint_still_in_service_after_the_model_and_config_are_deleted(api, served):
    d = api.describe(served.endpoint)
    assert d["EndpointStatus"] == "InService"
    assert d["EndpointConfigName"] == served.config


def test_create_endpoint_from_a_config_whose_model_is_gone_is_refused(api, served):
    name = unique_name("orphan")
    refused(api, "CreateEndpoint", {"EndpointName": name, "EndpointConfigName": served.copy},
            f'Could not find model "{model_arn(served.model)}".')
    assert api.describe(name) is None


def test_create_endpoint_from_a_deleted_config_is_refused(api, served):
    name = unique_name("orphan")
    refused(api, "CreateEndpoint", {"EndpointName": name, "EndpointConfigName": served.config},
            f'Could not find endpoint configuration "{endpoint_config_arn(served.config)}".')


# ---------------------------------------------------------------------------
# CreateModel's validation, with the daemon's exact words

LONG_URL = "file:///" + "a" * 1100

MODEL_REFUSALS = [
    ("name-too-long", lambda i: model_doc("a" * 64, i),
     one_error("a" * 64, "modelName", "Member must have length less than or equal to 63")),
    ("name-leading-hyphen", lambda i: model_doc("-a", i), one_error("-a", "modelName", NAME_PATTERN)),
    ("name-underscore", lambda i: model_doc("a_b", i), one_error("a_b", "modelName", NAME_PATTERN)),
    ("name-empty", lambda i: model_doc("", i), one_error("", "modelName", NAME_PATTERN)),
    ("name-missing", lambda i: {"PrimaryContainer": {"Image": i}},
     one_error(None, "modelName", "Member must not be null")),
    ("name-null", lambda i: {"ModelName": None, "PrimaryContainer": {"Image": i}},
     one_error(None, "modelName", "Member must not be null")),
    ("role-too-short", lambda i: model_doc("m", i, ExecutionRoleArn="nope"),
     one_error("nope", "executionRoleArn", "Member must have length greater than or equal to 20")),
    ("role-eleven-digit-account", lambda i: model_doc("m", i, ExecutionRoleArn="arn:aws:iam::12345678901:role/x"),
     one_error("arn:aws:iam::12345678901:role/x", "executionRoleArn", ROLE_PATTERN)),
    ("role-not-a-role", lambda i: model_doc("m", i, ExecutionRoleArn="arn:aws:iam::123456789012:user/x"),
     one_error("arn:aws:iam::123456789012:user/x", "executionRoleArn", ROLE_PATTERN)),
    ("image-with-space", lambda i: model_doc("m", "x y"),
     one_error("x y", "primaryContainer.image", r"Member must satisfy regular expression pattern: ^[\S]+")),
    ("image-too-long", lambda i: model_doc("m", "a" * 256),
     one_error("a" * 256, "primaryContainer.image", "Member must have length less than or equal to 255")),
    ("image-missing", lambda i: {"ModelName": "m", "PrimaryContainer": {}},
     one_error(None, "primaryContainer.image", "Member must not be null")),
    ("model-data-url-ftp", lambda i: container_doc("m", i, ModelDataUrl="ftp://x/y"),
     one_error("ftp://x/y", "primaryContainer.modelDataUrl",
               "Member must satisfy regular expression pattern: ^(https|s3|file)://([^/]+)/?(.*)$")),
    ("model-data-url-too-long", lambda i: container_doc("m", i, ModelDataUrl=LONG_URL),
     ("1 validation error detected: Value 'file:///aaa",
      "…' at 'primaryContainer.modelDataUrl' failed to satisfy constraint: "
      "Member must have length less than or equal to 1024")),
    ("environment-key-pattern", lambda i: container_doc("m", i, Environment={"1A": "v"}),
     "1 validation error detected: Value at 'primaryContainer.environment' failed to satisfy constraint: "
     "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: ^[a-zA-Z_][a-zA-Z0-9_]*$]"),
    ("environment-101-entries",
     lambda i: container_doc("m", i, Environment={f"K{n}": "v" for n in range(101)}),
     "1 validation error detected: Value at 'primaryContainer.environment' failed to satisfy constraint: "
     "Member must have length less than or equal to 100"),
    ("environment-value-too-long",
     lambda i: container_doc("m", i, Environment={"K": "v" * 1025}),
     "1 validation error detected: Value at 'primaryContainer.environment' failed to satisfy constraint: "
     "Map value must satisfy constraint: [Member must have length less than or equal to 1024]"),
    ("containers-two", lambda i: {"ModelName": "m", "Containers": [{"Image": "a:1"}, {"Image": "b:1"}]},
     one_error('[{"Image":"a:1"},{"Image":"b:1"}]', "containers",
               UNSUPPORTED + "an inference pipeline of several containers; give one container")),
    ("containers-empty", lambda i: {"ModelName": "m", "Containers": []},
     one_error("[]", "containers", "Member must have length greater than or equal to 1")),
    ("primary-and-containers",
     lambda i: {"ModelName": "m", "PrimaryContainer": {"Image": i}, "Containers": [{"Image": i}]},
     "Exactly one of PrimaryContainer and Containers must be given."),
    ("no-container", lambda i: {"ModelName": "m"}, "Exactly one of PrimaryContainer and Containers must be given."),
    ("primary-container-null", lambda i: {"ModelName": "m", "PrimaryContainer": None},
     "Exactly one of PrimaryContainer and Containers must be given."),
    ("mode-multi-model", lambda i: container_doc("m", i, Mode="MultiModel"),
     one_error("MultiModel", "primaryContainer.mode", UNSUPPORTED + "multi-model endpoints are not supported")),
    ("mode-unknown", lambda i: container_doc("m", i, Mode="Bogus"),
     one_error("Bogus", "primaryContainer.mode", "Member must satisfy enum value set: [SingleModel, MultiModel]")),
    ("tags-51", lambda i: model_doc("m", i, Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(51)]),
     ("1 validation error detected: Value '[{\"Key\":\"k0\"",
      "…' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")),
    ("tag-key-empty", lambda i: model_doc("m", i, Tags=[{"Key": "", "Value": "v"}]),
     one_error("", "tags.1.member.key", "Member must have length greater than or equal to 1")),
    ("tag-key-pattern", lambda i: model_doc("m", i, Tags=[{"Key": "a{b", "Value": "v"}]),
     one_error("a{b", "tags.1.member.key",
               r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$")),
    ("tag-key-too-long", lambda i: model_doc("m", i, Tags=[{"Key": "k" * 129, "Value": "v"}]),
     one_error("k" * 129, "tags.1.member.key", "Member must have length less than or equal to 128")),
    ("vpc-config", lambda i: model_doc("m", i, VpcConfig={"Subnets": ["s"]}),
     one_error('{"Subnets":["s"]}', "vpcConfig", UNSUPPORTED + "containers reach this host's networks")),
    ("image-config", lambda i: container_doc("m", i, ImageConfig={"RepositoryAccessMode": "Vpc"}),
     one_error('{"RepositoryAccessMode":"Vpc"}', "primaryContainer.imageConfig",
               UNSUPPORTED + "images come from this host's Docker Engine")),
    ("multi-model-config",
     lambda i: container_doc("m", i, MultiModelConfig={"ModelCacheSetting": "Enabled"}),
     one_error('{"ModelCacheSetting":"Enabled"}', "primaryContainer.multiModelConfig",
               UNSUPPORTED + "multi-model endpoints are not supported")),
    ("model-package", lambda i: container_doc("m", i, ModelPackageName="p"),
     one_error('"p"', "primaryContainer.modelPackageName",
               UNSUPPORTED + "model packages live in SageMaker's registry")),
    ("inference-execution-config",
     lambda i: model_doc("m", i, InferenceExecutionConfig={"Mode": "Serial"}),
     one_error('{"Mode":"Serial"}', "inferenceExecutionConfig", UNSUPPORTED + "a model runs one container")),
    ("several-errors",
     lambda i: {"ModelName": "bad_name", "PrimaryContainer": {"Image": "x y", "Environment": {"1A": "v"}},
                "ExecutionRoleArn": "nope"},
     "4 validation errors detected: "
     f"Value 'bad_name' at 'modelName' failed to satisfy constraint: {NAME_PATTERN}; "
     "Value 'nope' at 'executionRoleArn' failed to satisfy constraint: "
     "Member must have length greater than or equal to 20; "
     "Value 'x y' at 'primaryContainer.image' failed to satisfy constraint: "
     r"Member must satisfy regular expression pattern: ^[\S]+; "
     "Value at 'primaryContainer.environment' failed to satisfy constraint: "
     "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: ^[a-zA-Z_][a-zA-Z0-9_]*$]"),
]


@pytest.mark.parametrize("build,message", [r[1:] for r in MODEL_REFUSALS], ids=[r[0] for r in MODEL_REFUSALS])
def test_create_model_refuses_with_sagemakers_words(api, image, build, message):
    refused(api, "CreateModel", build(image), message)


MODEL_WRONG_TYPES = [
    ("name-number", lambda i: model_doc(5, i),
     "Cannot deserialize ModelName: expected a string but found VALUE_NUMBER_INT"),
    ("primary-container-string", lambda i: {"ModelName": "m", "PrimaryContainer": "img"},
     "Cannot deserialize PrimaryContainer: expected a structure but found VALUE_STRING"),
    ("isolation-string", lambda i: model_doc("m", i, EnableNetworkIsolation="yes"),
     "Cannot deserialize EnableNetworkIsolation: expected a boolean but found VALUE_STRING"),
    ("environment-list", lambda i: container_doc("m", i, Environment=[]),
     "Cannot deserialize primaryContainer.environment: expected a map but found START_ARRAY"),
    ("environment-value-number", lambda i: container_doc("m", i, Environment={"K": 5}),
     "Cannot deserialize primaryContainer.environment.K: expected a string but found VALUE_NUMBER_INT"),
    ("tags-string", lambda i: model_doc("m", i, Tags="t"),
     "Cannot deserialize Tags: expected a list but found VALUE_STRING"),
]


@pytest.mark.parametrize("build,message", [r[1:] for r in MODEL_WRONG_TYPES], ids=[r[0] for r in MODEL_WRONG_TYPES])
def test_create_model_refuses_wrong_json_types_as_serialization_errors(api, image, build, message):
    refused(api, "CreateModel", build(image), message, error_type="SerializationException")


def test_create_model_refuses_a_body_that_is_not_a_json_object(api):
    before = catalog(api)
    r = api.raw(b"[1, 2]", target="SageMaker.CreateModel")
    assert r.status == 400 and r.error_type == "SerializationException", r
    assert catalog(api) == before


def test_create_model_refuses_s3_model_data(api, image):
    url = "s3://bucket/model.tar.gz"
    refused(api, "CreateModel", container_doc(unique_name("m"), image, ModelDataUrl=url),
            f"ModelDataUrl {url}: endpointd does not read S3; give a file:// path under "
            "model_data_roots or an http(s):// URL under model_data_urls.")


def test_create_model_refuses_file_model_data_outside_model_data_roots(api, image, daemon):
    url = "file:///etc/passwd"
    refused(api, "CreateModel", container_doc(unique_name("m"), image, ModelDataUrl=url),
            f'ModelDataUrl {url}: ModelDataUrl "{url}" is not under any of model_data_roots ({daemon.workdir})')


def test_create_model_refuses_file_model_data_escaping_model_data_roots_by_dot_dot(api, image, daemon):
    url = f"file://{daemon.workdir}/../../etc/passwd"
    r = api.error("CreateModel", container_doc(unique_name("m"), image, ModelDataUrl=url))
    assert r.error_type == "ValidationException", r
    assert r.message.startswith(f"ModelDataUrl {url}: "), r.message


def test_create_model_refuses_https_model_data_without_model_data_urls(api, image):
    url = "https://example.com/model.tar.gz"
    refused(api, "CreateModel", container_doc(unique_name("m"), image, ModelDataUrl=url),
            f'ModelDataUrl {url}: ModelDataUrl "{url}" is not under any of model_data_urls (none are configured)')


def test_create_model_takes_file_model_data_under_model_data_roots(api, image, daemon, made):
    name = unique_name("model")
    made["models"].append(name)
    url = f"file://{daemon.workdir}/model.tar.gz"
    api.ok("CreateModel", {"ModelName": name, "PrimaryContainer": {"Image": image, "ModelDataUrl": url}})
    d = api.ok("DescribeModel", {"ModelName": name})
    assert d["PrimaryContainer"]["ModelDataUrl"] == url


def test_create_model_refuses_an_image_allowed_images_does_not_match(api):
    refused(api, "CreateModel", model_doc(unique_name("m"), NOT_ALLOWED_IMAGE),
            f"Image {NOT_ALLOWED_IMAGE} is not allowed on this host: the daemon config's "
            "allowed_images has no pattern it matches.")


def test_an_image_allowed_images_does_not_match_never_reaches_the_engine(api, docker):
    name = unique_name("m")
    api.error("CreateModel", model_doc(name, NOT_ALLOWED_IMAGE))
    api.error("CreateEndpointConfig", config_doc(unique_name("c"), name))
    assert [c["Id"] for c in docker.containers(all=True) if c.get("Image") == NOT_ALLOWED_IMAGE] == []


def test_create_model_refuses_an_empty_image_by_its_pattern(api):
    refused(api, "CreateModel", model_doc("m", ""),
            one_error("", "primaryContainer.image", r"Member must satisfy regular expression pattern: ^[\S]+"))


# ---------------------------------------------------------------------------
# CreateEndpointConfig's validation


def pv_doc(**extra):
    return lambda model: {"EndpointConfigName": "c", "ProductionVariants": [variant(model, **extra)]}


def member(field):
    return f"{VARIANT1}.{field}"


CONFIG_REFUSALS = [
    ("name-too-long", lambda m: config_doc("a" * 64, m),
     one_error("a" * 64, "endpointConfigName", "Member must have length less than or equal to 63")),
    ("name-underscore", lambda m: config_doc("c_2", m), one_error("c_2", "endpointConfigName", VARIANT_PATTERN)),
    ("variants-empty", lambda m: {"EndpointConfigName": "c", "ProductionVariants": []},
     one_error("[]", "productionVariants", "Member must have length greater than or equal to 1")),
    ("variants-missing", lambda m: {"EndpointConfigName": "c"},
     one_error(None, "productionVariants", "Member must not be null")),
    ("variants-null", lambda m: {"EndpointConfigName": "c", "ProductionVariants": None},
     one_error(None, "productionVariants", "Member must not be null")),
    ("variants-eleven",
     lambda m: {"EndpointConfigName": "c", "ProductionVariants": [variant(m, VariantName=f"v{n}") for n in range(11)]},
     ("1 validation error detected: Value '[{\"VariantName\":\"v0\"",
      "…' at 'productionVariants' failed to satisfy constraint: Member must have length less than or equal to 10")),
    ("count-zero", pv_doc(InitialInstanceCount=0),
     one_error("0", member("initialInstanceCount"), at_least(1))),
    ("count-101", pv_doc(InitialInstanceCount=101),
     one_error("101", member("initialInstanceCount"), at_most(100))),
    ("count-null", pv_doc(InitialInstanceCount=None),
     one_error(None, member("initialInstanceCount"), "Member must not be null")),
    ("weight-negative", pv_doc(InitialVariantWeight=-1),
     one_error("-1", member("initialVariantWeight"), at_least(0))),
    ("startup-59", pv_doc(ContainerStartupHealthCheckTimeoutInSeconds=59),
     one_error("59", member("containerStartupHealthCheckTimeoutInSeconds"), at_least(60))),
    ("startup-3601", pv_doc(ContainerStartupHealthCheckTimeoutInSeconds=3601),
     one_error("3601", member("containerStartupHealthCheckTimeoutInSeconds"), at_most(3600))),
    ("download-59", pv_doc(ModelDataDownloadTimeoutInSeconds=59),
     one_error("59", member("modelDataDownloadTimeoutInSeconds"), at_least(60))),
    ("download-3601", pv_doc(ModelDataDownloadTimeoutInSeconds=3601),
     one_error("3601", member("modelDataDownloadTimeoutInSeconds"), at_most(3600))),
    ("volume-0", pv_doc(VolumeSizeInGB=0),
     one_error("0", member("volumeSizeInGB"), at_least(1))),
    ("volume-513", pv_doc(VolumeSizeInGB=513),
     one_error("513", member("volumeSizeInGB"), at_most(512))),
    ("provision-299", pv_doc(VariantInstanceProvisionTimeoutInSeconds=299),
     one_error("299", member("variantInstanceProvisionTimeoutInSeconds"), at_least(300))),
    ("provision-3601", pv_doc(VariantInstanceProvisionTimeoutInSeconds=3601),
     one_error("3601", member("variantInstanceProvisionTimeoutInSeconds"), at_most(3600))),
    ("instance-type-unknown", pv_doc(InstanceType="ml.m5.large"),
     one_error("ml.m5.large", member("instanceType"), KNOWN_TYPES)),
    ("instance-type-null", pv_doc(InstanceType=None),
     one_error(None, member("instanceType"), "Member must not be null")),
    ("variant-name-pattern", pv_doc(VariantName="a_b"), one_error("a_b", member("variantName"), VARIANT_PATTERN)),
    ("variant-model-pattern", pv_doc(ModelName="bad_model"), one_error("bad_model", member("modelName"), NAME_PATTERN)),
    ("serverless", pv_doc(ServerlessConfig={"MemorySizeInMB": 1024, "MaxConcurrency": 1}),
     one_error('{"MemorySizeInMB":1024,"MaxConcurrency":1}', member("serverlessConfig"),
               UNSUPPORTED + "instances run on this host; give InstanceType")),
    ("accelerator", pv_doc(AcceleratorType="ml.eia1.medium"),
     one_error('"ml.eia1.medium"', member("acceleratorType"), UNSUPPORTED + "Elastic Inference is not available")),
    ("ssm", pv_doc(EnableSSMAccess=True),
     one_error("true", member("enableSSMAccess"), UNSUPPORTED + "there is no SSM agent")),
    ("routing-config", pv_doc(RoutingConfig={"RoutingStrategy": "RANDOM"}),
     one_error('{"RoutingStrategy":"RANDOM"}', member("routingConfig"),
               UNSUPPORTED + "calls go to the instance with the fewest in flight")),
    ("data-capture", lambda m: dict(config_doc("c", m), DataCaptureConfig={"InitialSamplingPercentage": 1}),
     one_error('{"InitialSamplingPercentage":1}', "dataCaptureConfig", UNSUPPORTED + "data capture is not available")),
    ("kms-key", lambda m: dict(config_doc("c", m), KmsKeyId="k"),
     one_error('"k"', "kmsKeyId", UNSUPPORTED + "volumes are this host's")),
    ("async-inference", lambda m: dict(config_doc("c", m), AsyncInferenceConfig={"OutputConfig": {}}),
     one_error('{"OutputConfig":{}}', "asyncInferenceConfig", UNSUPPORTED + "asynchronous inference is not available")),
    ("shadow-variants", lambda m: dict(config_doc("c", m), ShadowProductionVariants=[variant(m)]),
     ('1 validation error detected: Value \'[{"VariantName"',
      "' at 'shadowProductionVariants' failed to satisfy constraint: "
      + UNSUPPORTED + "shadow variants are not available")),
    ("vpc-config", lambda m: dict(config_doc("c", m), VpcConfig={"Subnets": ["s"]}),
     one_error('{"Subnets":["s"]}', "vpcConfig", UNSUPPORTED + "containers reach this host's networks")),
    ("network-isolation", lambda m: dict(config_doc("c", m), EnableNetworkIsolation=True),
     one_error("true", "enableNetworkIsolation", NO_ISOLATION)),
    ("tag-key-too-long", lambda m: dict(config_doc("c", m), Tags=[{"Key": "k" * 129, "Value": "v"}]),
     one_error("k" * 129, "tags.1.member.key", "Member must have length less than or equal to 128")),
    ("several-errors",
     pv_doc(InitialInstanceCount=0, InitialVariantWeight=-1, VolumeSizeInGB=900, InstanceType="ml.bogus"),
     "4 validation errors detected: "
     f"Value '0' at '{member('initialInstanceCount')}' failed to satisfy constraint: {at_least(1)}; "
     f"Value '-1' at '{member('initialVariantWeight')}' failed to satisfy constraint: {at_least(0)}; "
     f"Value '900' at '{member('volumeSizeInGB')}' failed to satisfy constraint: {at_most(512)}; "
     f"Value 'ml.bogus' at '{member('instanceType')}' failed to satisfy constraint: {KNOWN_TYPES}"),
]


@pytest.mark.parametrize("build,message", [r[1:] for r in CONFIG_REFUSALS], ids=[r[0] for r in CONFIG_REFUSALS])
def test_create_endpoint_config_refuses_with_sagemakers_words(api, api_model, build, message):
    refused(api, "CreateEndpointConfig", build(api_model), message)


CONFIG_WRONG_TYPES = [
    ("count-string", pv_doc(InitialInstanceCount="1"),
     f"Cannot deserialize {member('initialInstanceCount')}: expected an integer but found VALUE_STRING"),
    ("count-float", pv_doc(InitialInstanceCount=1.5),
     f"Cannot deserialize {member('initialInstanceCount')}: expected an integer but found VALUE_NUMBER_FLOAT"),
    ("variants-object", lambda m: {"EndpointConfigName": "c", "ProductionVariants": {"a": 1}},
     "Cannot deserialize ProductionVariants: expected a list but found START_OBJECT"),
    ("variant-string", lambda m: {"EndpointConfigName": "c", "ProductionVariants": ["x"]},
     f"Cannot deserialize {VARIANT1}: expected a structure but found VALUE_STRING"),
]


@pytest.mark.parametrize("build,message", [r[1:] for r in CONFIG_WRONG_TYPES], ids=[r[0] for r in CONFIG_WRONG_TYPES])
def test_create_endpoint_config_refuses_wrong_json_types_as_serialization_errors(api, api_model, build, message):
    refused(api, "CreateEndpointConfig", build(api_model), message, error_type="SerializationException")


def test_create_endpoint_config_refuses_a_missing_model(api):
    ghost = unique_name("ghost")
    refused(api, "CreateEndpointConfig", config_doc(unique_name("c"), ghost),
            f'Could not find model "{model_arn(ghost)}".')


def test_create_endpoint_config_refuses_two_variants_of_one_name_case_insensitively(api, api_model):
    name = unique_name("c")
    refused(api, "CreateEndpointConfig",
            {"EndpointConfigName": name,
             "ProductionVariants": [variant(api_model), variant(api_model, VariantName="alltraffic")]},
            f"Endpoint configuration {name} has two production variants named alltraffic: "
            "variant names must be unique.")


# ---------------------------------------------------------------------------
# Duplicates, YAML resources, deleting what is not there


def test_create_model_refuses_a_name_the_api_holds_case_insensitively(api, api_model, image):
    """The ARN in the answer is the existing model's, as it was spelt."""
    refused(api, "CreateModel", model_doc(api_model.upper(), image),
            f'Cannot create already existing model "{model_arn(api_model)}".')


def test_create_model_refuses_a_name_the_yaml_declares_and_names_where(api, image, daemon):
    refused(api, "CreateModel", model_doc("DEMO", image),
            (f'Cannot create already existing model "{model_arn("demo")}". It is declared in the daemon config '
             f"({daemon.config_path}:", "): the API cannot replace it."))


def test_create_endpoint_config_refuses_a_name_the_api_holds_case_insensitively(api, api_config, api_model):
    refused(api, "CreateEndpointConfig", config_doc(api_config.upper(), api_model),
            f'Cannot create already existing endpoint configuration "{endpoint_config_arn(api_config)}".')


def test_create_endpoint_config_refuses_a_name_the_yaml_declares_and_names_where(api, api_model, daemon):
    refused(api, "CreateEndpointConfig", config_doc("Demo-Config", api_model),
            (f'Cannot create already existing endpoint configuration "{endpoint_config_arn("demo-config")}". '
             f"It is declared in the daemon config ({daemon.config_path}:", "): the API cannot replace it."))


def test_create_model_refuses_a_name_of_an_included_yaml_file_and_names_that_file(api, image, daemon):
    refused(api, "CreateModel", model_doc("Demo-B", image),
            (f'Cannot create already existing model "{model_arn("demo-b")}". It is declared in the daemon config '
             f"({daemon.workdir}/conf.d/more.yaml:", "): the API cannot replace it."))


def test_delete_model_refuses_a_yaml_model_and_names_where_it_is_declared(api, daemon):
    r = refused(api, "DeleteModel", {"ModelName": "demo"},
                (f'Model "{model_arn("demo")}" is declared in the daemon config ({daemon.config_path}:',
                 "): only the operator can remove it, from the YAML."))
    assert api.ok("DescribeModel", {"ModelName": "demo"})["ModelName"] == "demo", r


def test_delete_model_refuses_a_model_of_an_included_yaml_file(api, daemon):
    refused(api, "DeleteModel", {"ModelName": "demo-b"},
            (f'Model "{model_arn("demo-b")}" is declared in the daemon config ({daemon.workdir}/conf.d/more.yaml:',
             "): only the operator can remove it, from the YAML."))


def test_delete_endpoint_config_refuses_a_yaml_config(api, daemon):
    refused(api, "DeleteEndpointConfig", {"EndpointConfigName": "demo-config"},
            (f'Endpoint configuration "{endpoint_config_arn("demo-config")}" is declared in the daemon config '
             f"({daemon.config_path}:", "): only the operator can remove it, from the YAML."))


def test_delete_model_of_an_unknown_name_is_refused(api):
    ghost = unique_name("ghost")
    refused(api, "DeleteModel", {"ModelName": ghost}, f'Could not find model "{model_arn(ghost)}".')


def test_delete_endpoint_config_of_an_unknown_name_is_refused(api):
    ghost = unique_name("ghost")
    refused(api, "DeleteEndpointConfig", {"EndpointConfigName": ghost},
            f'Could not find endpoint configuration "{endpoint_config_arn(ghost)}".')


def test_delete_model_validates_its_name(api):
    refused(api, "DeleteModel", {"ModelName": None}, one_error(None, "modelName", "Member must not be null"))
    refused(api, "DeleteModel", {"ModelName": 3},
            "Cannot deserialize ModelName: expected a string but found VALUE_NUMBER_INT",
            error_type="SerializationException")


def test_delete_model_takes_the_name_in_any_case(api, image, made):
    name = unique_name("model")
    api.ok("CreateModel", model_doc(name, image))
    assert api.ok("DeleteModel", {"ModelName": name.upper()}) == {}
    assert name not in catalog(api)[0]


def test_a_deleted_model_name_can_be_created_again(api, api_model, image):
    api.ok("DeleteModel", {"ModelName": api_model})
    api.ok("CreateModel", model_doc(api_model, image))
    assert "ExecutionRoleArn" not in api.ok("DescribeModel", {"ModelName": api_model})


# ---------------------------------------------------------------------------
# Tags


def test_tags_given_to_create_model_show_in_list_tags(api, api_model):
    body = api.ok("ListTags", {"ResourceArn": model_arn(api_model)})
    assert body["Tags"] == [{"Key": "team", "Value": "search"}]


def test_tags_given_to_create_endpoint_config_show_in_list_tags(api, api_model, made):
    name = unique_name("config")
    made["configs"].append(name)
    api.ok("CreateEndpointConfig", dict(config_doc(name, api_model), Tags=[{"Key": "a", "Value": "b"}]))
    assert api.ok("ListTags", {"ResourceArn": endpoint_config_arn(name)})["Tags"] == [{"Key": "a", "Value": "b"}]


def test_add_tags_on_an_api_model(api, api_model):
    api.ok("AddTags", {"ResourceArn": model_arn(api_model), "Tags": [{"Key": "stage", "Value": "prod"}]})
    tags = api.ok("ListTags", {"ResourceArn": model_arn(api_model)})["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("stage", "prod"), ("team", "search")]


def test_a_model_created_again_under_a_deleted_name_has_none_of_the_old_tags(api, api_model, image):
    api.ok("AddTags", {"ResourceArn": model_arn(api_model), "Tags": [{"Key": "stage", "Value": "prod"}]})
    api.ok("DeleteModel", {"ModelName": api_model})
    api.ok("CreateModel", model_doc(api_model, image))
    assert api.ok("ListTags", {"ResourceArn": model_arn(api_model)})["Tags"] == []


def test_a_config_created_again_under_a_deleted_name_has_none_of_the_old_tags(api, api_model, made):
    name = unique_name("config")
    made["configs"].append(name)
    api.ok("CreateEndpointConfig", dict(config_doc(name, api_model), Tags=[{"Key": "a", "Value": "b"}]))
    api.ok("DeleteEndpointConfig", {"EndpointConfigName": name})
    api.ok("CreateEndpointConfig", config_doc(name, api_model))
    assert api.ok("ListTags", {"ResourceArn": endpoint_config_arn(name)})["Tags"] == []


def test_add_tags_on_a_deleted_model_is_refused(api, api_model):
    api.ok("DeleteModel", {"ModelName": api_model})
    refused(api, "AddTags", {"ResourceArn": model_arn(api_model), "Tags": [{"Key": "k", "Value": "v"}]},
            f'Could not find model "{model_arn(api_model)}".')


def test_create_model_refuses_a_reserved_tag_key(api, image):
    name = unique_name("m")
    r = refused(api, "CreateModel", model_doc(name, image, Tags=[{"Key": "aws:x", "Value": "v"}]),
                one_error("aws:x", "tags.1.member.key",
                          'Member must not start with aws: (tag keys starting with "aws:" are reserved)'))
    assert r.error_type == "ValidationException"


# ---------------------------------------------------------------------------
# Limits: a daemon of its own

LIMITS = "limits: { max_endpoints: 100, max_models: 2, max_endpoint_configs: 1 }"


@pytest.fixture(scope="module")
def limited(endpointd_bin, docker_sock, demo_image, docker):
    d = Daemon(endpointd_bin, docker_sock, demo_image, extra_config=[LIMITS])
    d.start()
    yield d
    err = d.stop()
    assert err is None, err


@pytest.fixture
def lapi(limited):
    a = ApiClient("127.0.0.1", limited.port)
    yield a
    # Each test starts from no API resources.
    for name in all_names(a, "ListEndpointConfigs", "EndpointConfigs", "EndpointConfigName"):
        a.call("DeleteEndpointConfig", {"EndpointConfigName": name})
    for name in all_names(a, "ListModels", "Models", "ModelName"):
        a.call("DeleteModel", {"ModelName": name})


def model_limit_message(used):
    return (f"The limit 'max_models' is 2, with current utilization of {used} and a request delta of 1. "
            "Raise limits.max_models in the daemon config to allow more.")


CONFIG_LIMIT_MESSAGE = ("The limit 'max_endpoint_configs' is 1, with current utilization of 1 and a request "
                        "delta of 1. Raise limits.max_endpoint_configs in the daemon config to allow more.")


def test_max_models_counts_api_models_only(lapi, demo_image):
    """The YAML declares far more than 2 models; two API models still fit."""
    lapi.ok("CreateModel", model_doc("lim-a", demo_image))
    lapi.ok("CreateModel", model_doc("lim-b", demo_image))


def test_create_model_past_max_models_is_resource_limit_exceeded(lapi, demo_image):
    lapi.ok("CreateModel", model_doc("lim-a", demo_image))
    lapi.ok("CreateModel", model_doc("lim-b", demo_image))
    refused(lapi, "CreateModel", model_doc("lim-c", demo_image), model_limit_message(2),
            error_type="ResourceLimitExceeded")


def test_delete_model_makes_room_under_max_models(lapi, demo_image):
    lapi.ok("CreateModel", model_doc("lim-a", demo_image))
    lapi.ok("CreateModel", model_doc("lim-b", demo_image))
    lapi.error("CreateModel", model_doc("lim-c", demo_image))
    lapi.ok("DeleteModel", {"ModelName": "lim-a"})
    lapi.ok("CreateModel", model_doc("lim-c", demo_image))


def test_create_endpoint_config_past_max_endpoint_configs_is_resource_limit_exceeded(lapi):
    lapi.ok("CreateEndpointConfig", config_doc("lim-c1", "demo"))
    refused(lapi, "CreateEndpointConfig", config_doc("lim-c2", "demo"), CONFIG_LIMIT_MESSAGE,
            error_type="ResourceLimitExceeded")


def test_delete_endpoint_config_makes_room_under_max_endpoint_configs(lapi):
    lapi.ok("CreateEndpointConfig", config_doc("lim-c1", "demo"))
    lapi.error("CreateEndpointConfig", config_doc("lim-c2", "demo"))
    lapi.ok("DeleteEndpointConfig", {"EndpointConfigName": "lim-c1"})
    lapi.ok("CreateEndpointConfig", config_doc("lim-c2", "demo"))
