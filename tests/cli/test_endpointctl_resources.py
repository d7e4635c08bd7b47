"""endpointctl create-model, create-config, delete-model and delete-config.

A request file is YAML or JSON in the API's own shape (CreateModelInput,
CreateEndpointConfigInput).  A plain scalar becomes a JSON number or boolean
only under a member the API types so; everything else, and every quoted
scalar, is sent as a string.  What the daemon refuses is shown as the other
commands show API errors; what cannot be a request at all (not YAML, not a
mapping, no file) is refused before anything is sent.
"""

import json

import pytest

from endpointd_harness import INSTANCE_TYPE, endpoint_config_arn, model_arn, unique_name
# The session's endpointctl and its helpers, as the main CLI suite runs them.
from test_endpointctl import complete, ctl, endpointctl_bin, show, table  # noqa: F401


class Made:
    """Models and endpoint configs a test made through the CLI, deleted after."""

    def __init__(self, api):
        self.api = api
        self.models = []
        self.configs = []

    def model(self, what):
        name = unique_name(what)
        self.models.append(name)
        return name

    def config(self, what):
        name = unique_name(what)
        self.configs.append(name)
        return name

    def cleanup(self):
        for name in self.configs:
            self.api.call("DeleteEndpointConfig", {"EndpointConfigName": name})
        for name in self.models:
            self.api.call("DeleteModel", {"ModelName": name})


@pytest.fixture
def made(api):
    m = Made(api)
    yield m
    m.cleanup()


def model_yaml(name, image, env_lines=("DEMO_START_DELAY_MS: 0",), extra=""):
    env = "".join(f"    {line}\n" for line in env_lines)
    return (f"ModelName: {name}\n"
            "PrimaryContainer:\n"
            f"  Image: {image}\n"
            "  Environment:\n"
            f"{env}"
            "ExecutionRoleArn: arn:aws:iam::123456789012:role/endpointd\n"
            f"{extra}")


def config_yaml(name, model, count="1", weight="1"):
    return (f"EndpointConfigName: {name}\n"
            "ProductionVariants:\n"
            "  - VariantName: AllTraffic\n"
            f"    ModelName: {model}\n"
            f"    InstanceType: {INSTANCE_TYPE}\n"
            f"    InitialInstanceCount: {count}\n"
            f"    InitialVariantWeight: {weight}\n"
            "Tags:\n"
            "  - Key: made-by\n"
            "    Value: endpointctl\n")


def write(tmp_path, text, name="request.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------------------
# create-model


def test_create_model_from_a_yaml_file_prints_the_model_arn(ctl, made, demo_image, tmp_path):
    name = made.model("ctl-model")
    p = ctl.ok("create-model", write(tmp_path, model_yaml(name, demo_image)))
    assert p.stdout == model_arn(name) + "\n", show(p)
    assert p.stderr == "", show(p)


def test_create_model_sends_the_files_members(api, ctl, made, demo_image, tmp_path):
    name = made.model("ctl-members")
    tags = "Tags:\n  - Key: team\n    Value: ml\n  - Key: year\n    Value: 2024\n"
    text = model_yaml(name, demo_image, extra=tags)
    ctl.ok("create-model", write(tmp_path, text))
    d = api.ok("DescribeModel", {"ModelName": name})
    assert d["PrimaryContainer"]["Image"] == demo_image
    assert d["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/endpointd"
    tags = api.ok("ListTags", {"ResourceArn": model_arn(name)})["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "ml"), ("year", "2024")]


def test_create_model_sends_environment_values_as_strings_even_when_they_look_like_numbers(
        api, ctl, made, demo_image, tmp_path):
    name = made.model("ctl-env")
    lines = ["THREADS: 4", "DEBUG: true", "RATIO: 0.5", "InitialInstanceCount: 3"]
    ctl.ok("create-model", write(tmp_path, model_yaml(name, demo_image, lines)))
    env = api.ok("DescribeModel", {"ModelName": name})["PrimaryContainer"]["Environment"]
    assert env == {"THREADS": "4", "DEBUG": "true", "RATIO": "0.5", "InitialInstanceCount": "3"}


def test_create_model_sends_a_plain_boolean_member_as_a_boolean(api, ctl, made, demo_image, tmp_path):
    name = made.model("ctl-bool")
    ctl.ok("create-model", write(tmp_path, model_yaml(name, demo_image, extra="EnableNetworkIsolation: false\n")))
    assert api.ok("DescribeModel", {"ModelName": name})["EnableNetworkIsolation"] is False


def test_create_model_sends_a_quoted_boolean_member_as_a_string_which_the_daemon_refuses(
        api, ctl, made, demo_image, tmp_path):
    name = made.model("ctl-qbool")
    text = model_yaml(name, demo_image, extra='EnableNetworkIsolation: "false"\n')
    p = ctl.run("create-model", write(tmp_path, text))
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: "), show(p)
    assert p.stdout == "", show(p)
    assert api.call("DescribeModel", {"ModelName": name}).status == 400


def test_create_model_from_json_on_stdin_with_json_output_prints_the_api_answer(
        api, ctl, made, demo_image):
    name = made.model("ctl-json")
    request = {"ModelName": name, "PrimaryContainer": {"Image": demo_image, "Environment": {"A": "1"}},
               "ExecutionRoleArn": "arn:aws:iam::123456789012:role/endpointd"}
    p = ctl.ok("-o", "json", "create-model", "-", input=json.dumps(request, indent=4))
    assert json.loads(p.stdout) == {"ModelArn": model_arn(name)}, show(p)
    assert api.ok("DescribeModel", {"ModelName": name})["PrimaryContainer"]["Environment"] == {"A": "1"}


def test_create_model_name_option_overrides_the_files_name(api, ctl, made, demo_image, tmp_path):
    in_file = unique_name("ctl-unused")
    name = made.model("ctl-renamed")
    p = ctl.ok("create-model", write(tmp_path, model_yaml(in_file, demo_image)), "--name", name)
    assert p.stdout == model_arn(name) + "\n", show(p)
    assert api.call("DescribeModel", {"ModelName": in_file}).status == 400


def test_create_model_of_an_existing_name_exits_1_with_validation_exception(ctl, made, demo_image, tmp_path):
    name = made.model("ctl-dup")
    path = write(tmp_path, model_yaml(name, demo_image))
    ctl.ok("create-model", path)
    p = ctl.run("create-model", path)
    assert p.returncode == 1, show(p)
    assert p.stderr == (f'endpointctl: ValidationException: Cannot create already existing model '
                        f'"{model_arn(name)}".\n'), show(p)
    assert p.stdout == "", show(p)


# ---------------------------------------------------------------------------
# create-config


def test_create_config_from_a_yaml_file_prints_the_config_arn_and_sends_numbers(
        api, ctl, made, tmp_path):
    name = made.config("ctl-config")
    p = ctl.ok("create-config", write(tmp_path, config_yaml(name, "demo", count="2", weight="0.5")))
    assert p.stdout == endpoint_config_arn(name) + "\n", show(p)
    pv = api.ok("DescribeEndpointConfig", {"EndpointConfigName": name})["ProductionVariants"][0]
    assert (pv["InitialInstanceCount"], pv["InitialVariantWeight"]) == (2, 0.5)
    tags = api.ok("ListTags", {"ResourceArn": endpoint_config_arn(name)})["Tags"]
    assert [(t["Key"], t["Value"]) for t in tags] == [("made-by", "endpointctl")]


def test_create_config_daemon_validation_error_is_shown_with_exit_1(api, ctl, made, tmp_path):
    name = made.config("ctl-zero")
    p = ctl.run("create-config", write(tmp_path, config_yaml(name, "demo", count="0")))
    assert p.returncode == 1, show(p)
    assert p.stderr == ("endpointctl: ValidationException: 1 validation error detected: Value '0' at "
                        "'productionVariants.1.member.initialInstanceCount' failed to satisfy constraint: "
                        "Member must have value greater than or equal to 1\n"), show(p)
    assert p.stdout == "", show(p)
    assert api.call("DescribeEndpointConfig", {"EndpointConfigName": name}).status == 400


def test_create_config_sends_a_quoted_number_as_a_string_which_the_daemon_refuses(api, ctl, made, tmp_path):
    name = made.config("ctl-quoted")
    p = ctl.run("create-config", write(tmp_path, config_yaml(name, "demo", count='"1"')))
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: "), show(p)
    assert api.call("DescribeEndpointConfig", {"EndpointConfigName": name}).status == 400


def test_create_config_takes_a_describe_endpoint_config_answer_on_stdin(api, ctl, made):
    d = api.ok("DescribeEndpointConfig", {"EndpointConfigName": "demo-config"})
    name = made.config("ctl-copy")
    p = ctl.ok("create-config", "-", "--name", name, input=json.dumps(d))
    assert p.stdout == endpoint_config_arn(name) + "\n", show(p)
    copy = api.ok("DescribeEndpointConfig", {"EndpointConfigName": name})
    assert copy["ProductionVariants"] == d["ProductionVariants"]


# ---------------------------------------------------------------------------
# The lifecycle: listed, used by an endpoint, invoked, deleted


def test_created_model_and_config_are_listed_serve_an_endpoint_and_are_deleted(
        api, ctl, made, endpoints, demo_image, tmp_path):
    model = made.model("ctl-life")
    config = made.config("ctl-life-config")
    ctl.ok("create-model", write(tmp_path, model_yaml(model, demo_image, ["DEMO_VARIANT: AllTraffic"])))
    ctl.ok("create-config", "-", input=config_yaml(config, model))

    models = [r[0] for r in table(ctl.ok("models", "--name-contains", model).stdout)[1:]]
    assert models == [model]
    configs = [r[0] for r in table(ctl.ok("configs", "--name-contains", config).stdout)[1:]]
    assert configs == [config]

    endpoint = endpoints.adopt(unique_name("ctl-life-ep"))
    p = ctl.ok("create", endpoint, "--config", config, "--wait")
    p = ctl.ok("invoke", endpoint, "--content-type", "application/json", input="{}")
    assert json.loads(p.stdout)["variant"] == "AllTraffic", show(p)

    p = ctl.ok("delete-config", config)
    assert (p.stdout, p.stderr) == ("", ""), show(p)
    p = ctl.ok("delete-model", model)
    assert (p.stdout, p.stderr) == ("", ""), show(p)
    assert table(ctl.ok("models", "--name-contains", model).stdout)[1:] == []
    assert table(ctl.ok("configs", "--name-contains", config).stdout)[1:] == []
    # The endpoint keeps its own copy.
    ctl.ok("invoke", endpoint, "--content-type", "application/json", input="{}")


def test_delete_model_json_prints_the_api_answer(api, ctl, made, demo_image, tmp_path):
    name = made.model("ctl-del")
    ctl.ok("create-model", write(tmp_path, model_yaml(name, demo_image)))
    assert ctl.json("delete-model", name) == {}
    assert api.call("DescribeModel", {"ModelName": name}).status == 400


def test_delete_model_of_an_unknown_model_exits_1_with_validation_exception(ctl):
    p = ctl.run("delete-model", "no-such-model")
    assert p.returncode == 1, show(p)
    assert p.stderr == ('endpointctl: ValidationException: Could not find model '
                        f'"{model_arn("no-such-model")}".\n'), show(p)


def test_delete_config_of_an_unknown_config_exits_1_with_validation_exception(ctl):
    p = ctl.run("delete-config", "no-such-config")
    assert p.returncode == 1, show(p)
    assert p.stderr == ('endpointctl: ValidationException: Could not find endpoint configuration '
                        f'"{endpoint_config_arn("no-such-config")}".\n'), show(p)


def test_delete_model_of_a_model_from_the_daemon_config_exits_1_saying_so(ctl):
    p = ctl.run("delete-model", "demo")
    assert p.returncode == 1, show(p)
    assert "is declared in the daemon config" in p.stderr, show(p)


# ---------------------------------------------------------------------------
# Files that cannot be a request: refused before anything is sent


def test_create_model_of_a_file_that_is_not_yaml_exits_1_with_its_position(ctl, made, tmp_path):
    path = write(tmp_path, f"ModelName: {made.model('ctl-bad')}\nPrimaryContainer: [\n")
    p = ctl.run("create-model", path)
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith(f"endpointctl: {path}:3:1: "), show(p)
    assert p.stdout == "", show(p)


def test_create_model_of_json_that_is_not_valid_exits_1_with_its_position(ctl):
    p = ctl.run("create-model", "-", input='{"ModelName": "x",\n "PrimaryContainer": {"Image": "a"]}\n')
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: <stdin>:2:"), show(p)


def test_create_config_of_a_list_exits_1_saying_a_mapping_is_expected(ctl, tmp_path):
    path = write(tmp_path, "- EndpointConfigName: x\n")
    p = ctl.run("create-config", path)
    assert p.returncode == 1, show(p)
    assert p.stderr == (f"endpointctl: {path}:1:1: expected a CreateEndpointConfig request (a mapping), "
                        "found a list\n"), show(p)


def test_create_model_of_a_bare_string_exits_1_saying_a_mapping_is_expected(ctl):
    p = ctl.run("create-model", "-", input='"just text"\n')
    assert p.returncode == 1, show(p)
    assert p.stderr == ("endpointctl: <stdin>:1:1: expected a CreateModel request (a mapping), "
                        "found a string\n"), show(p)


def test_create_model_of_an_empty_file_exits_1(ctl, tmp_path):
    path = write(tmp_path, "# nothing here\n")
    p = ctl.run("create-model", path)
    assert p.returncode == 1, show(p)
    assert p.stderr == f"endpointctl: {path}: no YAML or JSON in it: expected a CreateModel request\n", show(p)


def test_create_model_of_a_missing_file_exits_1_naming_it(ctl, tmp_path):
    path = str(tmp_path / "nope.yaml")
    p = ctl.run("create-model", path)
    assert p.returncode == 1, show(p)
    assert p.stderr == f"endpointctl: {path}: No such file or directory\n", show(p)


def test_create_model_refuses_yaml_aliases(ctl, tmp_path):
    path = write(tmp_path, "ModelName: &n x\nExecutionRoleArn: *n\n")
    p = ctl.run("create-model", path)
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith(f"endpointctl: {path}:1:"), show(p)


def test_create_model_refuses_duplicate_keys(ctl, tmp_path):
    path = write(tmp_path, "ModelName: a\nModelName: b\n")
    p = ctl.run("create-model", path)
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith(f"endpointctl: {path}:2:1: "), show(p)


def test_create_model_of_a_file_over_1_mib_exits_1(ctl, tmp_path):
    path = write(tmp_path, "ModelName: x\n# " + "x" * (1024 * 1024) + "\n")
    p = ctl.run("create-model", path)
    assert p.returncode == 1, show(p)
    assert p.stderr == f"endpointctl: {path}: larger than 1 MiB\n", show(p)


def test_create_model_of_stdin_over_1_mib_exits_1(ctl):
    p = ctl.run("create-model", "-", input="ModelName: x\n# " + "x" * (1024 * 1024) + "\n")
    assert p.returncode == 1, show(p)
    assert p.stderr == "endpointctl: stdin: larger than 1 MiB\n", show(p)


@pytest.mark.parametrize("args", [
    ["create-model"],
    ["create-model", "a.yaml", "b.yaml"],
    ["create-config", "a.yaml", "--name"],
    ["create-config", "--frobnicate", "a.yaml"],
    ["delete-model"],
    ["delete-config", "a", "b"],
], ids=" ".join)
def test_resource_commands_bad_usage_exits_2_with_a_usage_line(ctl, args):
    p = ctl.run(*args, url=False)
    assert p.returncode == 2, show(p)
    assert "Usage: endpointctl " + args[0] in p.stderr, show(p)


# ---------------------------------------------------------------------------
# bash completion


def test_completion_offers_model_names_for_delete_model(ctl):
    assert "demo-invoke" in complete(ctl, "delete-model", "demo-inv")


def test_completion_offers_endpoint_config_names_for_delete_config(ctl):
    assert "demo-config" in complete(ctl, "delete-config", "demo-")


def test_completion_offers_the_name_option_for_create_model_and_create_config(ctl):
    assert "--name" in complete(ctl, "create-model", "--")
    assert "--name" in complete(ctl, "create-config", "--")


def test_completion_offers_request_files_for_create_model(ctl, tmp_path):
    write(tmp_path, "ModelName: x\n", "model.yaml")
    assert complete(ctl, "create-model", str(tmp_path / "mod")) == [str(tmp_path / "model.yaml")]
