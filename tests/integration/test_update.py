"""UpdateEndpoint and UpdateEndpointWeightsAndCapacities on the real Engine.

Every rollout runs under constant load (a few threads invoking without a
pause): not one call may fail, whatever the policy, and a rollback too.
Which fleet answered is told by the model's DEMO_VARIANT ("v1", "v2"),
which /invocations echoes.

Map of this file:
  - a daemon of its own whose extra YAML declares v1/v2 models and configs,
    a model that exits at start, one that never passes /ping, one that
    answers 500 to every call, and an alarm on model errors
  - Load: the invoking threads, their outcomes and who answered
  - blue/green all at once, canary, linear, rolling: end on the new config,
    no failed call, the old containers gone, Describe along the way
  - rollbacks: a model that exits, one that never answers /ping, one whose
    errors trip an alarm while it bakes
  - TerminationWaitInSeconds, RetainAllVariantProperties
  - UpdateEndpointWeightsAndCapacities: weights at once, counts up and down
"""

import json
import threading
import time

import pytest

from endpointd_harness import (
    INSTANCE_TYPE,
    LABEL,
    ApiClient,
    Daemon,
    EndpointFactory,
    unique_name,
    wait_until,
)
from test_invoke_support import invoke

UPDATE_DEADLINE_S = 90


def _model(name, env):
    lines = [f"  - ModelName: {name}", "    PrimaryContainer:", "      Image: {image}",
             "      Environment:"]
    lines += [f"        {k}: {json.dumps(v)}" for k, v in env.items()]
    return lines


def _config(name, variants, startup=60):
    lines = [f"  - EndpointConfigName: {name}", "    ProductionVariants:"]
    for vname, model, count in variants:
        lines += [f"      - VariantName: {vname}", f"        ModelName: {model}",
                  f"        InitialInstanceCount: {count}", f"        InstanceType: {INSTANCE_TYPE}",
                  f"        ContainerStartupHealthCheckTimeoutInSeconds: {startup}"]
    return lines


def update_yaml(image):
    lines = ["Models:"]
    lines += _model("upd-v1", {"DEMO_VARIANT": "v1"})
    lines += _model("upd-v2", {"DEMO_VARIANT": "v2"})
    lines += _model("upd-exit", {"DEMO_START_DELAY_MS": "60000", "DEMO_EXIT_AFTER_MS": "300",
                                 "DEMO_EXIT_CODE": "7"})
    lines += _model("upd-no-ping", {"DEMO_PING_STATUS": "500"})
    lines += _model("upd-errors", {"DEMO_VARIANT": "v2", "DEMO_INVOKE_STATUS": "500"})
    lines += ["EndpointConfigs:"]
    lines += _config("upd-v1-1", [("AllTraffic", "upd-v1", 1)])
    lines += _config("upd-v1-2", [("AllTraffic", "upd-v1", 2)])
    lines += _config("upd-v2-1", [("AllTraffic", "upd-v2", 1)])
    lines += _config("upd-v2-2", [("AllTraffic", "upd-v2", 2)])
    lines += _config("upd-v2-4", [("AllTraffic", "upd-v2", 4)])
    lines += _config("upd-exit-2", [("AllTraffic", "upd-exit", 2)])
    lines += _config("upd-no-ping-1", [("AllTraffic", "upd-no-ping", 1)])
    lines += _config("upd-errors-4", [("AllTraffic", "upd-errors", 4)])
    lines += _config("upd-pair", [("A", "upd-v1", 1), ("B", "upd-v2", 1)])
    lines += ["Alarms:",
              "  - AlarmName: upd-model-errors",
              "    MetricName: InvocationModelErrors",
              "    Statistic: Sum",
              "    Period: 10",
              "    EvaluationPeriods: 1",
              "    Threshold: 3",
              "    ComparisonOperator: GreaterThanOrEqualToThreshold",
              "    TreatMissingData: notBreaching"]
    return "\n".join(lines).replace("{image}", json.dumps(image)) + "\n"


@pytest.fixture(scope="module")
def upd_daemon(endpointd_bin, docker_sock, demo_image, docker):
    d = Daemon(endpointd_bin, docker_sock, demo_image, extra_config=["orphan_grace_s: 1"],
               extra_yaml=update_yaml(demo_image))
    d.start()
    yield d
    api = ApiClient("127.0.0.1", d.port)
    f = EndpointFactory(api)
    for e in api.all_endpoints():
        f.adopt(e["EndpointName"])
    try:
        f.cleanup()
    finally:
        err = d.stop()  # a sanitizer's report makes the exit status non-zero
    assert not err, err


@pytest.fixture(scope="module")
def uapi(upd_daemon):
    return ApiClient("127.0.0.1", upd_daemon.port, timeout=30)


@pytest.fixture
def made(uapi):
    f = EndpointFactory(uapi)
    yield f
    f.cleanup()


class Load:
    """Threads that invoke an endpoint without a pause until stopped."""

    def __init__(self, api, name, threads=4):
        self.api, self.name = api, name
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.answered_by = {}  # DEMO_VARIANT -> calls
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self.stop_event.is_set():
            try:
                r = invoke(self.api, self.name, b'{"x": 1}', content_type="application/json",
                           timeout=20)
            except OSError as e:
                with self.lock:
                    self.failures.append(repr(e))
                continue
            with self.lock:
                if r.status == 200:
                    self.ok += 1
                    who = (r.json or {}).get("variant", "?") if isinstance(r.json, dict) else "?"
                    self.answered_by[who] = self.answered_by.get(who, 0) + 1
                else:
                    self.failures.append(f"{r.status} {r.body[:300]!r}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)

    def snapshot(self):
        with self.lock:
            return dict(self.answered_by)


def sample(api, name, calls=6):
    """Who answers a few calls in a row: ({DEMO_VARIANT: calls}, [failures])."""
    who, failures = {}, []
    for _ in range(calls):
        r = invoke(api, name, b"{}", content_type="application/json", timeout=20)
        if r.status != 200:
            failures.append(f"{r.status} {r.body[:300]!r}")
            continue
        v = r.json.get("variant", "?") if isinstance(r.json, dict) else "?"
        who[v] = who.get(v, 0) + 1
    return who, failures


def update(api, name, config, **params):
    body = api.ok("UpdateEndpoint", {"EndpointName": name, "EndpointConfigName": config, **params})
    return body


def wait_done(api, name, timeout=UPDATE_DEADLINE_S, watch=None):
    """Poll Describe until the endpoint is no longer Updating or RollingBack;
    watch(description) sees every answer on the way."""

    def done():
        d = api.describe(name)
        assert d is not None
        if watch:
            watch(d)
        return d if d["EndpointStatus"] not in ("Updating", "RollingBack") else None

    return wait_until(done, timeout, interval=0.1, what=f"{name} to finish its update")


def containers(docker, name):
    cs = docker.endpoint_containers(name)
    return [c for c in cs if c.get("State") == "running"]


def fleets_running(docker, name):
    """{fleet label: running containers} of an endpoint."""
    out = {}
    for c in containers(docker, name):
        f = c.get("Labels", {}).get(f"{LABEL}.fleet", "0")
        out[f] = out.get(f, 0) + 1
    return out


def in_service(api, name, config):
    d = api.wait_in_service(name)
    assert d["EndpointConfigName"] == config
    return d


def test_update_without_deployment_config_is_blue_green_all_at_once_and_fails_no_call(
        uapi, made, docker):
    name, _ = made.create("bg", config="upd-v1-2")
    in_service(uapi, name, "upd-v1-2")
    seen = []
    with Load(uapi, name) as load:
        time.sleep(0.5)
        update(uapi, name, "upd-v2-2")
        first = uapi.describe(name)
        final = wait_done(uapi, name, watch=seen.append)
        time.sleep(0.5)
    assert first["EndpointStatus"] == "Updating"
    assert first["EndpointConfigName"] == "upd-v1-2"
    assert first["PendingDeploymentSummary"]["EndpointConfigName"] == "upd-v2-2"
    assert final["EndpointStatus"] == "InService", final
    assert final["EndpointConfigName"] == "upd-v2-2"
    assert "PendingDeploymentSummary" not in final
    assert "FailureReason" not in final
    assert "LastDeploymentConfig" not in final
    assert load.failures == [], load.failures[:5]
    assert load.answered_by.get("v1", 0) > 0 and load.answered_by.get("v2", 0) > 0, load.answered_by
    # After it: only the new fleet answers, and only its containers run.
    assert sample(uapi, name) == ({"v2": 6}, [])
    wait_until(lambda: list(fleets_running(docker, name).values()) == [2], 30,
               what="the old fleet's containers to go")


def test_describe_shows_the_pending_fleet_launching_while_the_old_config_serves(uapi, made):
    name, _ = made.create("pending", config="upd-v1-1")
    in_service(uapi, name, "upd-v1-1")
    update(uapi, name, "upd-v2-2")
    d = uapi.describe(name)
    pending = d["PendingDeploymentSummary"]
    assert pending["EndpointConfigName"] == "upd-v2-2"
    assert isinstance(pending["StartTime"], (int, float))
    [pv] = pending["ProductionVariants"]
    assert pv["VariantName"] == "AllTraffic"
    assert pv["DesiredInstanceCount"] == 2
    assert pv["InstanceType"] == INSTANCE_TYPE
    [status] = pv["VariantStatus"]
    assert status["Status"] in ("Creating", "ActivatingTraffic", "Baking")
    if status["Status"] == "Creating":
        assert status["StatusMessage"].startswith("Launching ")
    # The serving fleet is what ProductionVariants shows meanwhile.
    assert d["ProductionVariants"][0]["DesiredInstanceCount"] == 1
    assert wait_done(uapi, name)["EndpointConfigName"] == "upd-v2-2"


def test_canary_sends_part_of_the_traffic_to_the_new_fleet_while_it_bakes(uapi, made):
    name, _ = made.create("canary", config="upd-v1-2")
    in_service(uapi, name, "upd-v1-2")
    policy = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 3,
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}}
    statuses = set()

    def watch(d):
        for pv in d.get("PendingDeploymentSummary", {}).get("ProductionVariants", []):
            for s in pv.get("VariantStatus", []):
                statuses.add(s["Status"])

    with Load(uapi, name) as load:
        update(uapi, name, "upd-v2-4", DeploymentConfig=policy)
        # While the canary bakes both fleets answer.
        wait_until(lambda: "ActivatingTraffic" in statuses or watch(uapi.describe(name)), 60,
                   interval=0.1, what="the canary step")
        mark = load.snapshot()
        time.sleep(1.5)
        during = {k: v - mark.get(k, 0) for k, v in load.snapshot().items()}
        final = wait_done(uapi, name, watch=watch)
    assert load.failures == [], load.failures[:5]
    assert during.get("v1", 0) > 0 and during.get("v2", 0) > 0, during
    # A canary of 1 instance of 4 takes about a quarter of the calls.
    assert during["v2"] < during["v1"], during
    assert final["EndpointStatus"] == "InService"
    assert final["EndpointConfigName"] == "upd-v2-4"
    assert final["LastDeploymentConfig"] == policy
    assert "ActivatingTraffic" in statuses and "Baking" in statuses, statuses


def test_linear_shifts_traffic_in_steps(uapi, made):
    name, _ = made.create("linear", config="upd-v1-1")
    in_service(uapi, name, "upd-v1-1")
    policy = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "LINEAR", "WaitIntervalInSeconds": 1,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}}}}
    messages = []

    def watch(d):
        for pv in d.get("PendingDeploymentSummary", {}).get("ProductionVariants", []):
            for s in pv.get("VariantStatus", []):
                if s["StatusMessage"] not in messages:
                    messages.append(s["StatusMessage"])

    with Load(uapi, name, threads=2) as load:
        update(uapi, name, "upd-v2-2", DeploymentConfig=policy)
        final = wait_done(uapi, name, watch=watch)
    assert load.failures == [], load.failures[:5]
    assert final["EndpointConfigName"] == "upd-v2-2"
    assert any("50%" in m for m in messages), messages
    assert any("100%" in m for m in messages), messages


def test_rolling_update_replaces_the_fleet_in_batches(uapi, made, docker):
    name, _ = made.create("rolling", config="upd-v1-2")
    in_service(uapi, name, "upd-v1-2")
    policy = {"RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 1}}
    most = [0]

    def watch(d):
        most[0] = max(most[0], len(containers(docker, name)))

    with Load(uapi, name) as load:
        update(uapi, name, "upd-v2-2", DeploymentConfig=policy)
        final = wait_done(uapi, name, watch=watch)
    assert load.failures == [], load.failures[:5]
    assert final["EndpointStatus"] == "InService"
    assert final["EndpointConfigName"] == "upd-v2-2"
    assert final["LastDeploymentConfig"] == policy
    # Never more than the old fleet and one batch at a time.
    assert most[0] <= 3, most[0]
    wait_until(lambda: list(fleets_running(docker, name).values()) == [2], 30,
               what="the old fleet's containers to go")


def test_a_new_fleet_whose_container_exits_rolls_back_with_the_containers_words(
        uapi, made, docker):
    name, _ = made.create("rb-exit", config="upd-v1-1")
    in_service(uapi, name, "upd-v1-1")
    seen = []
    with Load(uapi, name, threads=2) as load:
        update(uapi, name, "upd-exit-2")
        final = wait_done(uapi, name, watch=lambda d: seen.append(d["EndpointStatus"]))
    assert load.failures == [], load.failures[:5]
    assert final["EndpointStatus"] == "InService", final
    assert final["EndpointConfigName"] == "upd-v1-1"
    reason = final["FailureReason"]
    assert "did not pass the ping health check" in reason, reason
    assert "exited with code 7" in reason, reason
    assert "DEMO_EXIT_AFTER_MS" in reason, reason  # the container's own log line
    assert set(load.answered_by) == {"v1"}, load.answered_by
    wait_until(lambda: list(fleets_running(docker, name).values()) == [1], 30,
               what="the new fleet's containers to go")
    # A later update that works clears the FailureReason.
    update(uapi, name, "upd-v2-1")
    final = wait_done(uapi, name)
    assert final["EndpointConfigName"] == "upd-v2-1"
    assert "FailureReason" not in final


def test_an_endpoint_can_be_updated_again_after_an_update(uapi, made, docker):
    name, _ = made.create("twice", config="upd-v1-1")
    in_service(uapi, name, "upd-v1-1")
    update(uapi, name, "upd-v2-1")
    assert wait_done(uapi, name)["EndpointConfigName"] == "upd-v2-1"
    update(uapi, name, "upd-v1-1")
    assert wait_done(uapi, name)["EndpointConfigName"] == "upd-v1-1"
    wait_until(lambda: list(fleets_running(docker, name).values()) == [1], 30,
               what="one container")
    assert sample(uapi, name) == ({"v1": 6}, [])


def test_termination_wait_keeps_the_old_containers_a_while_without_traffic(uapi, made, docker):
    name, _ = made.create("termwait", config="upd-v1-1")
    in_service(uapi, name, "upd-v1-1")
    policy = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, "TerminationWaitInSeconds": 4}}
    update(uapi, name, "upd-v2-1", DeploymentConfig=policy)
    d = wait_done(uapi, name)
    assert d["EndpointStatus"] == "InService"
    assert sum(fleets_running(docker, name).values()) == 2
    assert sample(uapi, name) == ({"v2": 6}, [])
    wait_until(lambda: sum(fleets_running(docker, name).values()) == 1, 20,
               what="the old container to go after TerminationWaitInSeconds")


def test_retain_all_variant_properties_keeps_the_serving_instance_count(uapi, made, docker):
    name, _ = made.create("retain", config="upd-v1-1")
    in_service(uapi, name, "upd-v1-1")
    uapi.ok("UpdateEndpointWeightsAndCapacities", {"EndpointName": name, "DesiredWeightsAndCapacities": [
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 2, "DesiredWeight": 3.0}]})
    wait_done(uapi, name)
    update(uapi, name, "upd-v2-4", RetainAllVariantProperties=True,
           ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredWeight"}])
    d = wait_done(uapi, name)
    [pv] = d["ProductionVariants"]
    assert pv["DesiredInstanceCount"] == 2 and pv["CurrentInstanceCount"] == 2, pv
    assert pv["DesiredWeight"] == 1.0, pv


def test_weights_change_at_once_and_counts_scale_up_then_down(uapi, made, docker):
    name, _ = made.create("scale", config="upd-pair")
    in_service(uapi, name, "upd-pair")
    uapi.ok("UpdateEndpointWeightsAndCapacities", {"EndpointName": name, "DesiredWeightsAndCapacities": [
        {"VariantName": "A", "DesiredWeight": 0.0}]})
    d = wait_done(uapi, name)
    assert {pv["VariantName"]: pv["CurrentWeight"] for pv in d["ProductionVariants"]} == {"A": 0.0, "B": 1.0}
    assert sample(uapi, name) == ({"v2": 6}, [])

    with Load(uapi, name) as load:
        uapi.ok("UpdateEndpointWeightsAndCapacities", {"EndpointName": name, "DesiredWeightsAndCapacities": [
            {"VariantName": "B", "DesiredInstanceCount": 3}]})
        d = uapi.describe(name)
        assert d["EndpointStatus"] == "Updating"
        b = [pv for pv in d["ProductionVariants"] if pv["VariantName"] == "B"][0]
        assert b["DesiredInstanceCount"] == 3
        d = wait_done(uapi, name)
        assert d["EndpointStatus"] == "InService"
        b = [pv for pv in d["ProductionVariants"] if pv["VariantName"] == "B"][0]
        assert b["CurrentInstanceCount"] == 3
        uapi.ok("UpdateEndpointWeightsAndCapacities", {"EndpointName": name, "DesiredWeightsAndCapacities": [
            {"VariantName": "B", "DesiredInstanceCount": 1}]})
        d = wait_done(uapi, name)
        time.sleep(0.5)
    assert load.failures == [], load.failures[:5]
    b = [pv for pv in d["ProductionVariants"] if pv["VariantName"] == "B"][0]
    assert b["DesiredInstanceCount"] == 1
    wait_until(lambda: len(containers(docker, name)) == 2, 30, what="scaled-down containers to go")


def test_an_alarm_rolls_a_canary_back_within_one_period(uapi, made):
    name, _ = made.create("rb-alarm", config="upd-v1-2")
    in_service(uapi, name, "upd-v1-2")
    policy = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 60,
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "upd-model-errors"}]}}
    with Load(uapi, name) as load:
        update(uapi, name, "upd-errors-4", DeploymentConfig=policy)
        began = time.monotonic()
        final = wait_done(uapi, name)
        took = time.monotonic() - began
    assert final["EndpointStatus"] == "InService", final
    assert final["EndpointConfigName"] == "upd-v1-2"
    assert "upd-model-errors" in final["FailureReason"], final
    # It had to launch 4 instances first; then one 10 s period at most.
    assert took < 40, took
    # The canary's errors reached clients (that is what the alarm is for),
    # and nothing else failed.
    assert all("500" in f or "424" in f for f in load.failures), load.failures[:5]


@pytest.mark.run_last
def test_a_new_fleet_that_never_passes_ping_rolls_back_after_its_startup_timeout(uapi, made):
    name, _ = made.create("rb-ping", config="upd-v1-1")
    in_service(uapi, name, "upd-v1-1")
    with Load(uapi, name, threads=1) as load:
        update(uapi, name, "upd-no-ping-1")
        final = wait_done(uapi, name, timeout=120)
    assert load.failures == [], load.failures[:5]
    assert final["EndpointStatus"] == "InService"
    assert final["EndpointConfigName"] == "upd-v1-1"
    assert "No ping succeeded within 60 seconds" in final["FailureReason"], final
