"""UpdateEndpoint and UpdateEndpointWeightsAndCapacities refuse what SageMaker refuses, and change nothing.

Every malformed request is sent with boto3 (its client-side checks turned
off, so that the daemon sees what a careless client would send), some with
the AWS CLI v2 too, to an endpoint InService on demo-config.  Each must get
the code and words SageMaker gives, and leave the endpoint as it was:
InService on demo-config, LastModifiedTime unchanged.

The new fleet a size is judged against is the target config's instances,
all variants together: two-variant-config has 2 + 2.

The last section needs the rollout itself (lib/endpoint_update.c): the
refusals only the endpoint can make (in progress, Failed, an undeclared
alarm, a variant it does not have) and updates that run to the end.
"""

import json
import os
import subprocess

import pytest

from endpointd_harness import (
    CREATE_DEADLINE_S,
    endpoint_arn,
    endpoint_config_arn,
    unique_name,
    wait_until,
)

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

AWS = "/usr/bin/aws"
ROUTING = "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"
ROLLING = "deploymentConfig.rollingUpdatePolicy"
# two-variant-config: VariantA 2 + VariantB 2.
BIG_CONFIG = "two-variant-config"
BIG_FLEET = 4


def validation(*errors):
    """SageMaker's message for (value, path, constraint) errors; value None is null."""
    parts = []
    for v, p, c in errors:
        shown = "null" if v is None else f"'{v}'"
        parts.append(f"Value {shown} at '{p}' failed to satisfy constraint: {c}")
    n = len(parts)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(parts)


def blue_green(routing_type="ALL_AT_ONCE", wait=0, **routing):
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": routing_type, "WaitIntervalInSeconds": wait, **routing}}}


def instances(n):
    return {"Type": "INSTANCE_COUNT", "Value": n}


def percent(n):
    return {"Type": "CAPACITY_PERCENT", "Value": n}


@pytest.fixture(scope="module")
def sm(api, aws_env):
    mp = pytest.MonkeyPatch()
    for k, v in aws_env.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                    region_name="us-east-1")
    client = session.client("sagemaker", endpoint_url=api.url, config=botocore_config.Config(
        retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=False))
    yield client
    mp.undo()


@pytest.fixture(scope="module")
def serving(api, module_endpoints):
    """An endpoint InService on demo-config that no test here may change."""
    name, _ = module_endpoints.create("upd-valid")
    api.wait_in_service(name)
    return name


@pytest.fixture
def unchanged(sm, serving):
    """Checks after the test that the serving endpoint is as it was before."""
    before = sm.describe_endpoint(EndpointName=serving)
    assert before["EndpointStatus"] == "InService"
    yield serving
    after = sm.describe_endpoint(EndpointName=serving)
    for key in ("EndpointStatus", "EndpointConfigName", "LastModifiedTime", "ProductionVariants"):
        assert after.get(key) == before.get(key), f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
    assert "FailureReason" not in after
    assert "PendingDeploymentSummary" not in after


def refused(call, **params):
    """The (code, message, HTTP status) of the ClientError call(**params) raises."""
    with pytest.raises(botocore_exceptions.ClientError) as e:
        call(**params)
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def update_refused(sm, endpoint, config="demo-config", **params):
    return refused(sm.update_endpoint, EndpointName=endpoint, EndpointConfigName=config, **params)


def assert_update_validation(sm, endpoint, *errors, config="demo-config", **params):
    assert update_refused(sm, endpoint, config, **params) == ("ValidationException", validation(*errors), 400)


def assert_raw_update_validation(api, endpoint, *errors, config="demo-config", **params):
    """As assert_update_validation, for members the installed botocore does
    not know (RollingUpdatePolicy came later): sent as JSON as it is."""
    r = api.error("UpdateEndpoint", {"EndpointName": endpoint, "EndpointConfigName": config, **params})
    assert (r.error_type, r.message) == ("ValidationException", validation(*errors)), r
    assert r.headers.get("x-amzn-errortype") == "ValidationException", r


# ---------------------------------------------------------------------------
# UpdateEndpoint: the request's members


def test_update_without_endpoint_config_name_says_it_must_not_be_null(sm, unchanged):
    code, message, status = refused(sm.update_endpoint, EndpointName=unchanged)
    assert (code, message, status) == (
        "ValidationException", validation((None, "endpointConfigName", "Member must not be null")), 400)


def test_update_with_a_bad_endpoint_name_names_its_pattern(sm):
    assert update_refused(sm, "bad_name") == ("ValidationException", validation((
        "bad_name", "endpointName",
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")), 400)


def test_update_with_a_config_name_too_long_names_the_limit(sm, unchanged):
    name = "c" * 64
    assert_update_validation(sm, unchanged, (name, "endpointConfigName",
                                             "Member must have length less than or equal to 63"), config=name)


def test_update_with_an_unknown_routing_type_lists_the_types(sm, unchanged):
    assert_update_validation(sm, unchanged, ("BLUE", f"{ROUTING}.type",
                                             "Member must satisfy enum value set: [ALL_AT_ONCE, CANARY, LINEAR]"),
                             DeploymentConfig=blue_green("BLUE"))


def test_update_with_a_wait_interval_over_an_hour_names_the_maximum(sm, unchanged):
    assert_update_validation(sm, unchanged, (3601, f"{ROUTING}.waitIntervalInSeconds",
                                             "Member must have value less than or equal to 3600"),
                             DeploymentConfig=blue_green(wait=3601))


def test_update_with_a_negative_termination_wait_names_the_minimum(sm, unchanged):
    dc = blue_green()
    dc["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] = -1
    assert_update_validation(sm, unchanged, (-1, "deploymentConfig.blueGreenUpdatePolicy.terminationWaitInSeconds",
                                             "Member must have value greater than or equal to 0"),
                             DeploymentConfig=dc)


@pytest.mark.parametrize("value,words", [
    (599, "Member must have value greater than or equal to 600"),
    (28801, "Member must have value less than or equal to 28800"),
])
def test_update_with_an_execution_timeout_out_of_range_names_the_bound(sm, unchanged, value, words):
    dc = blue_green()
    dc["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] = value
    assert_update_validation(sm, unchanged, (value, "deploymentConfig.blueGreenUpdatePolicy."
                                                    "maximumExecutionTimeoutInSeconds", words),
                             DeploymentConfig=dc)


def test_update_without_traffic_routing_configuration_says_it_must_not_be_null(sm, unchanged):
    assert_update_validation(sm, unchanged, (None, "deploymentConfig.blueGreenUpdatePolicy."
                                                   "trafficRoutingConfiguration", "Member must not be null"),
                             DeploymentConfig={"BlueGreenUpdatePolicy": {"TerminationWaitInSeconds": 0}})


def test_update_without_wait_interval_says_it_must_not_be_null(sm, unchanged):
    dc = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}}
    assert_update_validation(sm, unchanged, (None, f"{ROUTING}.waitIntervalInSeconds", "Member must not be null"),
                             DeploymentConfig=dc)


def test_update_with_a_canary_of_zero_names_the_minimum(sm, unchanged):
    assert_update_validation(sm, unchanged, (0, f"{ROUTING}.canarySize.value",
                                             "Member must have value greater than or equal to 1"),
                             DeploymentConfig=blue_green("CANARY", CanarySize=instances(0)))


def test_update_with_an_unknown_capacity_type_lists_the_types(sm, unchanged):
    assert_update_validation(sm, unchanged, ("INSTANCES", f"{ROUTING}.canarySize.type",
                                             "Member must satisfy enum value set: [INSTANCE_COUNT, CAPACITY_PERCENT]"),
                             DeploymentConfig=blue_green("CANARY", CanarySize={"Type": "INSTANCES", "Value": 1}))


def test_update_lists_every_bad_member_in_one_message(sm, unchanged):
    dc = blue_green("SLOW", wait=-5)
    assert_update_validation(
        sm, unchanged,
        ("SLOW", f"{ROUTING}.type", "Member must satisfy enum value set: [ALL_AT_ONCE, CANARY, LINEAR]"),
        (-5, f"{ROUTING}.waitIntervalInSeconds", "Member must have value greater than or equal to 0"),
        DeploymentConfig=dc)


def test_update_with_a_wait_interval_of_the_wrong_type_is_a_serialization_exception(api, unchanged):
    r = api.error("UpdateEndpoint", {"EndpointName": unchanged, "EndpointConfigName": "demo-config",
                                     "DeploymentConfig": blue_green(wait="10")})
    assert r.error_type == "SerializationException", r
    assert "waitIntervalInSeconds" in r.message, r


def test_update_with_a_retain_flag_that_is_not_a_boolean_is_a_serialization_exception(api, unchanged):
    r = api.error("UpdateEndpoint", {"EndpointName": unchanged, "EndpointConfigName": "demo-config",
                                     "RetainAllVariantProperties": "yes"})
    assert r.error_type == "SerializationException", r


def test_update_with_an_empty_alarm_list_names_the_minimum(sm, unchanged):
    dc = blue_green()
    dc["AutoRollbackConfiguration"] = {"Alarms": []}
    assert_update_validation(sm, unchanged, ("[]", "deploymentConfig.autoRollbackConfiguration.alarms",
                                             "Member must have length greater than or equal to 1"),
                             DeploymentConfig=dc)


def test_update_with_eleven_alarms_names_the_maximum(sm, unchanged):
    alarms = [{"AlarmName": f"a{i}"} for i in range(11)]
    dc = blue_green()
    dc["AutoRollbackConfiguration"] = {"Alarms": alarms}
    shown = json.dumps(alarms, separators=(",", ":"))
    assert_update_validation(sm, unchanged, (shown, "deploymentConfig.autoRollbackConfiguration.alarms",
                                             "Member must have length less than or equal to 10"),
                             DeploymentConfig=dc)


@pytest.mark.parametrize("name,words", [
    ("", "Member must have length greater than or equal to 1"),
    ("   ", "Member must satisfy regular expression pattern: (?!\\s*$).+"),
    ("a" * 256, "Member must have length less than or equal to 255"),
])
def test_update_with_a_bad_alarm_name_names_the_constraint(sm, unchanged, name, words):
    dc = blue_green()
    dc["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": "ok"}, {"AlarmName": name}]}
    assert_update_validation(sm, unchanged, (name, "deploymentConfig.autoRollbackConfiguration.alarms.2.member."
                                                    "alarmName", words),
                             DeploymentConfig=dc)


def test_update_with_four_excluded_properties_names_the_maximum(sm, unchanged):
    props = [{"VariantPropertyType": t}
             for t in ("DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig", "DesiredWeight")]
    shown = json.dumps(props, separators=(",", ":"))
    assert_update_validation(sm, unchanged, (shown, "excludeRetainedVariantProperties",
                                             "Member must have length less than or equal to 3"),
                             RetainAllVariantProperties=True, ExcludeRetainedVariantProperties=props)


def test_update_with_an_unknown_variant_property_lists_the_properties(sm, unchanged):
    assert_update_validation(
        sm, unchanged,
        ("InstanceType", "excludeRetainedVariantProperties.1.member.variantPropertyType",
         "Member must satisfy enum value set: [DesiredInstanceCount, DesiredWeight, DataCaptureConfig]"),
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "InstanceType"}])


def test_update_rolling_without_batch_size_or_wait_names_both(api, unchanged):
    assert_raw_update_validation(api, unchanged,
                             (None, f"{ROLLING}.maximumBatchSize", "Member must not be null"),
                             (None, f"{ROLLING}.waitIntervalInSeconds", "Member must not be null"),
                             DeploymentConfig={"RollingUpdatePolicy": {}})


# ---------------------------------------------------------------------------
# UpdateEndpoint: the rules between members


def test_update_with_both_update_policies_is_refused(api, unchanged):
    dc = blue_green()
    dc["RollingUpdatePolicy"] = {"MaximumBatchSize": instances(1), "WaitIntervalInSeconds": 0}
    r = api.error("UpdateEndpoint", {"EndpointName": unchanged, "EndpointConfigName": "demo-config",
                                     "DeploymentConfig": dc})
    assert (r.error_type, r.message) == (
        "ValidationException", "DeploymentConfig may have only one of BlueGreenUpdatePolicy and RollingUpdatePolicy.")


def test_update_with_a_deployment_config_of_no_update_policy_is_refused(sm, unchanged):
    dc = {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]}}
    assert update_refused(sm, unchanged, DeploymentConfig=dc) == (
        "ValidationException",
        "DeploymentConfig must have one of BlueGreenUpdatePolicy and RollingUpdatePolicy.", 400)


def test_update_canary_without_canary_size_is_refused(sm, unchanged):
    assert_update_validation(sm, unchanged, (None, f"{ROUTING}.canarySize",
                                             "Member must not be null when the traffic routing Type is CANARY"),
                             DeploymentConfig=blue_green("CANARY"))


def test_update_linear_without_step_size_is_refused(sm, unchanged):
    assert_update_validation(sm, unchanged, (None, f"{ROUTING}.linearStepSize",
                                             "Member must not be null when the traffic routing Type is LINEAR"),
                             DeploymentConfig=blue_green("LINEAR"))


def test_update_all_at_once_with_a_canary_size_is_refused(sm, unchanged):
    assert_update_validation(sm, unchanged, ('{"Type":"INSTANCE_COUNT","Value":1}', f"{ROUTING}.canarySize",
                                             "Member must be null when the traffic routing Type is ALL_AT_ONCE"),
                             DeploymentConfig=blue_green(CanarySize=instances(1)))


def test_update_canary_with_a_linear_step_size_is_refused(sm, unchanged):
    assert_update_validation(sm, unchanged, ('{"Type":"CAPACITY_PERCENT","Value":25}', f"{ROUTING}.linearStepSize",
                                             "Member must be null when the traffic routing Type is CANARY"),
                             DeploymentConfig=blue_green("CANARY", CanarySize=instances(1),
                                                         LinearStepSize=percent(25)))


# ---------------------------------------------------------------------------
# UpdateEndpoint: sizes against the new fleet


def test_update_canary_of_more_than_half_the_new_fleet_is_refused(sm, unchanged):
    assert_update_validation(sm, unchanged, (3, f"{ROUTING}.canarySize.value",
                                             f"Member must be at most 50% of the new fleet's {BIG_FLEET} "
                                             "instances (INSTANCE_COUNT)"),
                             config=BIG_CONFIG, DeploymentConfig=blue_green("CANARY", CanarySize=instances(3)))


def test_update_canary_of_more_than_fifty_percent_is_refused(sm, unchanged):
    assert_update_validation(sm, unchanged, (51, f"{ROUTING}.canarySize.value",
                                             "Member must be at most 50% (CAPACITY_PERCENT)"),
                             config=BIG_CONFIG, DeploymentConfig=blue_green("CANARY", CanarySize=percent(51)))


@pytest.mark.parametrize("size,shown,words", [
    (percent(5), 5, "Member must be from 10% to 50% (CAPACITY_PERCENT)"),
    (percent(60), 60, "Member must be from 10% to 50% (CAPACITY_PERCENT)"),
    (instances(3), 3, f"Member must be from 10% to 50% of the new fleet's {BIG_FLEET} instances (INSTANCE_COUNT)"),
])
def test_update_linear_step_outside_ten_to_fifty_percent_is_refused(sm, unchanged, size, shown, words):
    assert_update_validation(sm, unchanged, (shown, f"{ROUTING}.linearStepSize.value", words),
                             config=BIG_CONFIG, DeploymentConfig=blue_green("LINEAR", LinearStepSize=size))


@pytest.mark.parametrize("value", [4, 51])
def test_update_rolling_batch_outside_five_to_fifty_percent_is_refused(api, unchanged, value):
    dc = {"RollingUpdatePolicy": {"MaximumBatchSize": percent(value), "WaitIntervalInSeconds": 0}}
    assert_raw_update_validation(api, unchanged, (value, f"{ROLLING}.maximumBatchSize.value",
                                             "Member must be from 5% to 50% (CAPACITY_PERCENT)"),
                             config=BIG_CONFIG, DeploymentConfig=dc)


def test_update_rolling_rollback_batch_under_five_percent_is_refused(api, unchanged):
    dc = {"RollingUpdatePolicy": {"MaximumBatchSize": instances(1), "WaitIntervalInSeconds": 0,
                                  "RollbackMaximumBatchSize": percent(4)}}
    assert_raw_update_validation(api, unchanged, (4, f"{ROLLING}.rollbackMaximumBatchSize.value",
                                             "Member must be from 5% to 100% (CAPACITY_PERCENT)"),
                             config=BIG_CONFIG, DeploymentConfig=dc)


# ---------------------------------------------------------------------------
# UpdateEndpoint: what the request names


def test_update_of_an_unknown_endpoint_names_its_arn(sm):
    name = unique_name("upd-none")
    assert update_refused(sm, name) == (
        "ValidationException", f'Could not find endpoint "{endpoint_arn(name)}".', 400)


def test_update_to_an_unknown_config_names_its_arn(sm, unchanged):
    config = unique_name("no-config")
    assert update_refused(sm, unchanged, config) == (
        "ValidationException", f'Could not find endpoint configuration "{endpoint_config_arn(config)}".', 400)


def test_update_of_an_unknown_endpoint_to_an_unknown_config_names_the_endpoint(sm):
    name = unique_name("upd-none")
    code, message, _ = update_refused(sm, name, unique_name("no-config"))
    assert message == f'Could not find endpoint "{endpoint_arn(name)}".'


def test_update_sizes_are_judged_only_once_the_config_is_known(sm, unchanged):
    config = unique_name("no-config")
    code, message, _ = update_refused(sm, unchanged, config,
                                      DeploymentConfig=blue_green("CANARY", CanarySize=instances(50)))
    assert message == f'Could not find endpoint configuration "{endpoint_config_arn(config)}".'


# ---------------------------------------------------------------------------
# UpdateEndpointWeightsAndCapacities


def weights_refused(sm, endpoint, entries):
    return refused(sm.update_endpoint_weights_and_capacities, EndpointName=endpoint,
                   DesiredWeightsAndCapacities=entries)


def test_weights_with_an_empty_list_names_the_minimum(sm, unchanged):
    assert weights_refused(sm, unchanged, []) == ("ValidationException", validation(
        ("[]", "desiredWeightsAndCapacities", "Member must have length greater than or equal to 1")), 400)


def test_weights_without_a_variant_name_says_it_must_not_be_null(sm, unchanged):
    assert weights_refused(sm, unchanged, [{"DesiredWeight": 1.0}]) == ("ValidationException", validation(
        (None, "desiredWeightsAndCapacities.1.member.variantName", "Member must not be null")), 400)


def test_weights_with_a_bad_variant_name_names_its_pattern(sm, unchanged):
    assert weights_refused(sm, unchanged, [{"VariantName": "All_Traffic", "DesiredWeight": 1.0}]) == (
        "ValidationException", validation(
            ("All_Traffic", "desiredWeightsAndCapacities.1.member.variantName",
             "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")), 400)


def test_weights_with_a_negative_weight_names_the_minimum(sm, unchanged):
    assert weights_refused(sm, unchanged, [{"VariantName": "AllTraffic", "DesiredWeight": -0.5}]) == (
        "ValidationException", validation(
            ("-0.5", "desiredWeightsAndCapacities.1.member.desiredWeight",
             "Member must have value greater than or equal to 0")), 400)


def test_weights_with_a_negative_instance_count_names_the_minimum(sm, unchanged):
    assert weights_refused(sm, unchanged, [{"VariantName": "AllTraffic", "DesiredInstanceCount": -1}]) == (
        "ValidationException", validation(
            (-1, "desiredWeightsAndCapacities.1.member.desiredInstanceCount",
             "Member must have value greater than or equal to 0")), 400)


def test_weights_entry_with_neither_weight_nor_count_is_refused(sm, unchanged):
    assert weights_refused(sm, unchanged, [{"VariantName": "AllTraffic"}]) == (
        "ValidationException", validation(
            (None, "desiredWeightsAndCapacities.1.member",
             "Member must have DesiredWeight or DesiredInstanceCount")), 400)


def test_weights_naming_a_variant_twice_is_refused(sm, unchanged):
    entries = [{"VariantName": "AllTraffic", "DesiredWeight": 1.0},
               {"VariantName": "alltraffic", "DesiredInstanceCount": 2}]
    assert weights_refused(sm, unchanged, entries) == (
        "ValidationException",
        "DesiredWeightsAndCapacities names variant alltraffic twice: give each variant once.", 400)


def test_weights_with_a_serverless_update_config_is_refused_by_name(api, unchanged):
    # Sent as JSON as it is: the installed botocore predates ServerlessUpdateConfig.
    entry = {"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"MaxConcurrency": 5}}
    r = api.error("UpdateEndpointWeightsAndCapacities",
                  {"EndpointName": unchanged, "DesiredWeightsAndCapacities": [entry]})
    assert (r.error_type, r.message) == ("ValidationException", validation(
        ('{"MaxConcurrency":5}', "desiredWeightsAndCapacities.1.member.serverlessUpdateConfig",
         "Member is not supported by endpointd: instances run on this host")))


def test_weights_with_a_weight_of_the_wrong_type_is_a_serialization_exception(api, unchanged):
    r = api.error("UpdateEndpointWeightsAndCapacities", {
        "EndpointName": unchanged,
        "DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredWeight": "heavy"}]})
    assert r.error_type == "SerializationException", r
    assert "desiredWeight" in r.message, r


def test_weights_of_an_unknown_endpoint_names_its_arn(sm):
    name = unique_name("wts-none")
    assert weights_refused(sm, name, [{"VariantName": "AllTraffic", "DesiredWeight": 1.0}]) == (
        "ValidationException", f'Could not find endpoint "{endpoint_arn(name)}".', 400)


# ---------------------------------------------------------------------------
# The AWS CLI v2


@pytest.fixture
def aws(api, aws_env):
    if not os.access(AWS, os.X_OK):
        pytest.skip(f"{AWS} is not installed")
    env = dict(os.environ)
    env.pop("AWS_PROFILE", None)
    env.update(aws_env)

    def run(*args):
        cmd = [AWS, "sagemaker", *args, "--endpoint-url", api.url, "--output", "json", "--no-cli-pager"]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    return run


def assert_cli_refused(p, message):
    assert p.returncode != 0, p
    assert "(ValidationException)" in p.stderr, p.stderr
    assert message in p.stderr, p.stderr


def test_cli_update_of_an_unknown_endpoint_names_its_arn(aws):
    name = unique_name("cli-upd-none")
    p = aws("update-endpoint", "--endpoint-name", name, "--endpoint-config-name", "demo-config")
    assert_cli_refused(p, f'Could not find endpoint "{endpoint_arn(name)}".')


def test_cli_update_to_an_unknown_config_names_its_arn(aws, unchanged):
    config = unique_name("no-config")
    p = aws("update-endpoint", "--endpoint-name", unchanged, "--endpoint-config-name", config)
    assert_cli_refused(p, f'Could not find endpoint configuration "{endpoint_config_arn(config)}".')


def test_cli_update_canary_too_large_for_the_new_fleet_is_refused(aws, unchanged):
    dc = blue_green("CANARY", CanarySize=instances(3))
    p = aws("update-endpoint", "--endpoint-name", unchanged, "--endpoint-config-name", BIG_CONFIG,
            "--deployment-config", json.dumps(dc))
    assert_cli_refused(p, validation((3, f"{ROUTING}.canarySize.value",
                                      f"Member must be at most 50% of the new fleet's {BIG_FLEET} "
                                      "instances (INSTANCE_COUNT)")))


def test_cli_update_with_a_wait_interval_over_an_hour_is_refused(aws, unchanged):
    p = aws("update-endpoint", "--endpoint-name", unchanged, "--endpoint-config-name", "demo-config",
            "--deployment-config", json.dumps(blue_green(wait=7200)))
    assert_cli_refused(p, validation((7200, f"{ROUTING}.waitIntervalInSeconds",
                                      "Member must have value less than or equal to 3600")))


def test_cli_weights_naming_a_variant_twice_is_refused(aws, unchanged):
    p = aws("update-endpoint-weights-and-capacities", "--endpoint-name", unchanged,
            "--desired-weights-and-capacities", "VariantName=AllTraffic,DesiredWeight=1",
            "VariantName=AllTraffic,DesiredInstanceCount=2")
    assert_cli_refused(p, "DesiredWeightsAndCapacities names variant AllTraffic twice: give each variant once.")


# ---------------------------------------------------------------------------
# Refusals only the endpoint can make, and updates that run to the end
# (these need the rollout of lib/endpoint_update.c)


def test_update_of_an_endpoint_still_creating_is_refused_as_in_progress(sm, api, endpoints):
    name, _ = endpoints.create("upd-creating", config="slow-config")
    assert api.describe(name)["EndpointStatus"] == "Creating"
    assert update_refused(sm, name) == (
        "ValidationException", f'Cannot update in-progress endpoint "{endpoint_arn(name)}".', 400)
    d = api.wait_in_service(name)
    assert d["EndpointConfigName"] == "slow-config"


def test_update_of_a_failed_endpoint_says_it_can_only_be_deleted(sm, api, endpoints):
    name, _ = endpoints.create("upd-failed", config="exit-config")
    assert api.wait_settled(name)["EndpointStatus"] == "Failed"
    assert update_refused(sm, name) == (
        "ValidationException",
        f'Cannot update failed endpoint "{endpoint_arn(name)}". A Failed endpoint can only be deleted '
        "(DeleteEndpoint).", 400)
    assert api.describe(name)["EndpointStatus"] == "Failed"


def test_weights_of_a_failed_endpoint_say_it_can_only_be_deleted(sm, api, endpoints):
    name, _ = endpoints.create("wts-failed", config="exit-config")
    assert api.wait_settled(name)["EndpointStatus"] == "Failed"
    code, message, _ = weights_refused(sm, name, [{"VariantName": "AllTraffic", "DesiredWeight": 1.0}])
    assert (code, message) == (
        "ValidationException",
        f'Cannot update failed endpoint "{endpoint_arn(name)}". A Failed endpoint can only be deleted '
        "(DeleteEndpoint).")


def test_update_naming_an_undeclared_alarm_names_it(sm, unchanged):
    dc = blue_green()
    dc["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": "no-such-alarm"}]}
    assert update_refused(sm, unchanged, DeploymentConfig=dc) == (
        "ValidationException",
        'Could not find alarm "no-such-alarm": AutoRollbackConfiguration can name only alarms declared in '
        "the daemon config (Alarms).", 400)


def test_weights_naming_a_variant_the_endpoint_lacks_names_it(sm, unchanged):
    code, message, _ = weights_refused(sm, unchanged, [{"VariantName": "NoSuchVariant", "DesiredWeight": 1.0}])
    assert code == "ValidationException"
    assert "NoSuchVariant" in message and endpoint_arn(unchanged) in message, message


def test_update_runs_to_the_new_config_and_the_cli_waiter_sees_it_in_service(sm, api, aws, endpoints):
    name, _ = endpoints.create("upd-run")
    api.wait_in_service(name)
    r = sm.update_endpoint(EndpointName=name, EndpointConfigName="invoke-config")
    assert r["EndpointArn"] == endpoint_arn(name)
    p = aws("wait", "endpoint-in-service", "--endpoint-name", name)
    assert p.returncode == 0, p.stderr
    d = sm.describe_endpoint(EndpointName=name)
    assert d["EndpointStatus"] == "InService"
    assert d["EndpointConfigName"] == "invoke-config"
    assert "FailureReason" not in d


def test_update_excluding_data_capture_from_retained_properties_is_accepted(sm, api, endpoints):
    name, _ = endpoints.create("upd-capture")
    api.wait_in_service(name)
    r = sm.update_endpoint(EndpointName=name, EndpointConfigName="invoke-config", RetainAllVariantProperties=True,
                           ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DataCaptureConfig"}])
    assert r["EndpointArn"] == endpoint_arn(name)
    d = wait_until(lambda: (x := api.describe(name)) and x["EndpointStatus"] == "InService" and x,
                   CREATE_DEADLINE_S, what=f"{name} back InService")
    assert d["EndpointConfigName"] == "invoke-config"


def test_the_cli_scales_a_variant_and_its_waiter_waits_for_the_new_instance(sm, api, aws, endpoints):
    name, _ = endpoints.create("upd-cli-scale")
    api.wait_in_service(name)
    p = aws("update-endpoint-weights-and-capacities", "--endpoint-name", name,
            "--desired-weights-and-capacities", "VariantName=AllTraffic,DesiredInstanceCount=2,DesiredWeight=2")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["EndpointArn"] == endpoint_arn(name)
    [pv] = sm.describe_endpoint(EndpointName=name)["ProductionVariants"]
    assert pv["DesiredInstanceCount"] == 2 and pv["CurrentWeight"] == 2.0, pv
    p = aws("wait", "endpoint-in-service", "--endpoint-name", name)
    assert p.returncode == 0, p.stderr
    [pv] = sm.describe_endpoint(EndpointName=name)["ProductionVariants"]
    assert pv["CurrentInstanceCount"] == 2, pv
