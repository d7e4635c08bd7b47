"""endpointctl update and update-weights: the request each command line makes, the wait, the errors.

Three kinds of test:
  - usage errors, which need no daemon: exit 2, a message naming the
    option, nothing sent;
  - against a fake daemon that records what it is sent and plays a scripted
    rollout back through DescribeEndpoint: the UpdateEndpoint and
    UpdateEndpointWeightsAndCapacities requests the options become, and what
    --wait prints and exits with for a rollout that succeeds, rolls back or
    fails;
  - against the session's endpointd: the daemon's refusals come out as
    "endpointctl: Code: message" with exit 1, and (once the rollout of
    lib/endpoint_update.c runs) update --wait follows a real update to its
    end.
"""

import http.server
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from endpointd_harness import endpoint_arn, endpoint_config_arn, env_setting, unique_name

ARN = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/web"
ROUTING_PATH = "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"


def run(binary, url, *args, timeout=60):
    env = {k: v for k, v in os.environ.items() if k not in ("ENDPOINTD_URL", "http_proxy", "HTTP_PROXY")}
    cmd = [binary] + (["--url", url] if url else []) + list(args)
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    p.cmd = cmd
    return p


def show(p):
    return f"{' '.join(p.cmd)} -> {p.returncode}\nstdout: {p.stdout!r}\nstderr: {p.stderr!r}"


@pytest.fixture(scope="session")
def endpointctl_bin():
    binary = env_setting("ENDPOINTCTL_BIN")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"ENDPOINTCTL_BIN={binary} is not an executable")
    return binary


# ---------------------------------------------------------------------------
# A fake daemon: records requests, plays DescribeEndpoint answers in turn


class FakeDaemon(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.requests = []  # (operation, body)
        self.describes = []  # answers in turn; the last one repeats
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def sent(self, op):
        return [body for o, body in self.requests if o == op]


class FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        op = (self.headers.get("X-Amz-Target") or "").removeprefix("SageMaker.")
        server = self.server
        with server.lock:
            server.requests.append((op, body))
            if op == "DescribeEndpoint":
                answer = server.describes.pop(0) if len(server.describes) > 1 else server.describes[0]
            else:
                answer = {"EndpointArn": ARN}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake():
    server = FakeDaemon()
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def describe(status, pending=None, reason=None):
    d = {"EndpointName": "web", "EndpointArn": ARN, "EndpointConfigName": "old-config", "EndpointStatus": status,
         "CreationTime": 1700000000.0, "LastModifiedTime": 1700000000.0}
    if pending is not None:
        d["PendingDeploymentSummary"] = {"EndpointConfigName": "new-config", "ProductionVariants": [
            {"VariantName": v, "VariantStatus": [{"Status": s, "StatusMessage": m} if m else {"Status": s}
                                                 for s, m in statuses]}
            for v, statuses in pending]}
    if reason is not None:
        d["FailureReason"] = reason
    return d


def update_sent(fake, binary, *args):
    p = run(binary, fake.url, "update", "web", "--config", "new-config", *args)
    assert p.returncode == 0, show(p)
    sent = fake.sent("UpdateEndpoint")
    assert len(sent) == 1, fake.requests
    return sent[0]


# ---------------------------------------------------------------------------
# Usage errors: exit 2, nothing sent


@pytest.mark.parametrize("args,words", [
    (["update", "web"], "update: --config CONFIG is required"),
    (["update", "--config", "c"], "update: missing operand"),
    (["update", "web", "x", "--config", "c"], 'update: unexpected operand "x"'),
    (["update", "web", "-c", "c", "--canary", "1", "--linear", "10%"],
     "--canary and --linear: give one of --canary, --linear and --rolling"),
    (["update", "web", "-c", "c", "--canary", "ten"], '--canary takes N (instances) or N% (of the new fleet), '
                                                      'not "ten"'),
    (["update", "web", "-c", "c", "--linear", "10%%"], '--linear takes N (instances) or N% (of the new fleet), '
                                                       'not "10%%"'),
    (["update", "web", "-c", "c", "--rolling", ""], "--rolling takes N (instances) or N%"),
    (["update", "web", "-c", "c", "--wait-interval", "1.5"], '--wait-interval takes a whole number of seconds, '
                                                             'not "1.5"'),
    (["update", "web", "-c", "c", "--rolling", "1", "--termination-wait", "5"],
     "--termination-wait is for blue/green updates, not --rolling"),
    (["update", "web", "-c", "c", "--rollback-batch", "50%"], "--rollback-batch goes with --rolling"),
    (["update", "web", "-c", "c", "--exclude", "DesiredWeight"], "--exclude goes with --retain"),
    (["update", "web", "-c", "c", "--frobnicate"], "unknown option --frobnicate"),
    (["update-weights", "web"], "update-weights: missing operand"),
    (["update-weights", "web", "AllTraffic"], "update-weights takes VARIANT=WEIGHT, VARIANT:COUNT or "
                                              'VARIANT=WEIGHT:COUNT, not "AllTraffic"'),
    (["update-weights", "web", "=2"], 'not "=2"'),
    (["update-weights", "web", "AllTraffic=heavy"], 'update-weights: "heavy" is not a weight (in "AllTraffic=heavy")'),
    (["update-weights", "web", "AllTraffic:two"], 'update-weights: "two" is not an instance count '
                                                  '(in "AllTraffic:two")'),
])
def test_bad_usage_exits_2_naming_what_is_wrong_and_sends_nothing(endpointctl_bin, fake, args, words):
    p = run(endpointctl_bin, fake.url, *args)
    assert p.returncode == 2, show(p)
    assert words in p.stderr, show(p)
    assert f"Usage: endpointctl {args[0]} " in p.stderr, show(p)
    assert fake.requests == []


@pytest.mark.parametrize("command", ["update", "update-weights"])
def test_help_shows_the_usage_and_exits_0(endpointctl_bin, command):
    p = run(endpointctl_bin, None, command, "--help")
    assert p.returncode == 0, show(p)
    assert p.stdout.startswith(f"Usage: endpointctl {command} "), show(p)


def test_the_command_list_names_update_and_update_weights(endpointctl_bin):
    p = run(endpointctl_bin, None, "--help")
    listed = {line.split()[0] for line in p.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert {"update", "update-weights"} <= listed, show(p)


# ---------------------------------------------------------------------------
# The requests the options make


def test_update_without_deployment_options_sends_no_deployment_config(endpointctl_bin, fake):
    assert update_sent(fake, endpointctl_bin) == {"EndpointName": "web", "EndpointConfigName": "new-config"}


def test_update_prints_the_endpoint_arn(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake.url, "update", "web", "--config", "new-config")
    assert p.returncode == 0, show(p)
    assert p.stdout == ARN + "\n"


def test_update_json_prints_the_api_answer(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake.url, "-o", "json", "update", "web", "--config", "new-config")
    assert p.returncode == 0, show(p)
    assert json.loads(p.stdout) == {"EndpointArn": ARN}


def test_update_canary_percent_sends_a_blue_green_canary(endpointctl_bin, fake):
    sent = update_sent(fake, endpointctl_bin, "--canary", "25%", "--wait-interval", "300",
                       "--termination-wait", "60", "--max-execution", "1800")
    assert sent["DeploymentConfig"] == {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 300,
                                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}},
        "TerminationWaitInSeconds": 60,
        "MaximumExecutionTimeoutInSeconds": 1800}}


def test_update_linear_count_sends_linear_steps_of_instances(endpointctl_bin, fake):
    sent = update_sent(fake, endpointctl_bin, "--linear", "2")
    assert sent["DeploymentConfig"] == {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "LINEAR", "WaitIntervalInSeconds": 0, "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 2}}}}


def test_update_rolling_sends_a_rolling_update_policy(endpointctl_bin, fake):
    sent = update_sent(fake, endpointctl_bin, "--rolling", "1", "--wait-interval", "10", "--rollback-batch", "50%",
                       "--max-execution", "900")
    assert sent["DeploymentConfig"] == {"RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 10,
        "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
        "MaximumExecutionTimeoutInSeconds": 900}}


def test_update_alarms_alone_send_all_at_once_with_auto_rollback(endpointctl_bin, fake):
    sent = update_sent(fake, endpointctl_bin, "--alarm", "errors", "--alarm", "latency p99")
    assert sent["DeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}, {"AlarmName": "latency p99"}]}}


def test_update_retain_sends_the_retain_members(endpointctl_bin, fake):
    sent = update_sent(fake, endpointctl_bin, "--retain", "--exclude", "DesiredWeight", "--retain-deployment-config")
    assert sent["RetainAllVariantProperties"] is True
    assert sent["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DesiredWeight"}]
    assert sent["RetainDeploymentConfig"] is True
    assert "DeploymentConfig" not in sent


def test_update_sends_values_out_of_range_for_the_daemon_to_judge(endpointctl_bin, fake):
    sent = update_sent(fake, endpointctl_bin, "--canary", "0", "--wait-interval", "-1")
    routing = sent["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": 0}
    assert routing["WaitIntervalInSeconds"] == -1


def test_update_weights_sends_weights_counts_and_both(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake.url, "update-weights", "web", "A=0.25", "B:3", "C=2:1")
    assert p.returncode == 0, show(p)
    assert p.stdout == ARN + "\n"
    assert fake.sent("UpdateEndpointWeightsAndCapacities") == [{"EndpointName": "web", "DesiredWeightsAndCapacities": [
        {"VariantName": "A", "DesiredWeight": 0.25},
        {"VariantName": "B", "DesiredInstanceCount": 3},
        {"VariantName": "C", "DesiredWeight": 2.0, "DesiredInstanceCount": 1},
    ]}]


# ---------------------------------------------------------------------------
# --wait against a scripted rollout


def test_update_wait_prints_a_line_per_change_and_exits_0_in_service(endpointctl_bin, fake):
    fake.describes = [
        describe("Updating", [("AllTraffic", [("Creating", "Launching 2 instance(s).")])]),
        describe("Updating", [("AllTraffic", [("Creating", "Launching 2 instance(s).")])]),
        describe("Updating", [("AllTraffic", [("Baking", "Baking for 5 seconds.")])]),
        describe("Updating", [("AllTraffic", [("Baking", "Baking for 5 seconds.")])]),
        describe("InService"),
    ]
    p = run(endpointctl_bin, fake.url, "update", "web", "--config", "new-config", "--wait")
    assert p.returncode == 0, show(p)
    assert p.stdout == ARN + "\n"
    assert p.stderr.splitlines() == [
        "Updating  pending new-config: AllTraffic Creating (Launching 2 instance(s).)",
        "Updating  pending new-config: AllTraffic Baking (Baking for 5 seconds.)",
        "InService",
    ], show(p)


def test_update_wait_shows_every_variant_and_status(endpointctl_bin, fake):
    fake.describes = [
        describe("Updating", [("A", [("Creating", None)]), ("B", [("ActivatingTraffic", "Shifting 50%."),
                                                                    ("Baking", None)])]),
        describe("InService"),
    ]
    p = run(endpointctl_bin, fake.url, "update", "web", "--config", "new-config", "--wait")
    assert p.returncode == 0, show(p)
    assert p.stderr.splitlines()[0] == \
        "Updating  pending new-config: A Creating, B ActivatingTraffic (Shifting 50%.); Baking", show(p)


def test_update_wait_exits_1_with_the_reason_when_the_update_rolled_back(endpointctl_bin, fake):
    fake.describes = [
        describe("Updating", [("AllTraffic", [("Baking", None)])]),
        describe("RollingBack"),
        describe("InService", reason="Alarm errors went into ALARM."),
    ]
    p = run(endpointctl_bin, fake.url, "update", "web", "--config", "new-config", "--wait")
    assert p.returncode == 1, show(p)
    lines = p.stderr.splitlines()
    assert lines[:3] == ["Updating  pending new-config: AllTraffic Baking", "RollingBack", "InService"], show(p)
    assert lines[3] == "endpointctl: web: the update rolled back: Alarm errors went into ALARM.", show(p)


def test_update_wait_exits_1_when_the_endpoint_ends_failed(endpointctl_bin, fake):
    fake.describes = [describe("Updating"), describe("UpdateRollbackFailed", reason="The old fleet is gone.")]
    p = run(endpointctl_bin, fake.url, "update", "web", "--config", "new-config", "--wait")
    assert p.returncode == 1, show(p)
    assert p.stderr.splitlines()[-1] == "endpointctl: web: UpdateRollbackFailed: The old fleet is gone.", show(p)


def test_update_wait_gives_up_after_the_timeout(endpointctl_bin, fake):
    fake.describes = [describe("Updating")]
    p = run(endpointctl_bin, fake.url, "update", "web", "--config", "new-config", "--wait", "--timeout", "1")
    assert p.returncode == 1, show(p)
    assert "endpointctl: web: timed out after 1 s waiting for the update to end" in p.stderr, show(p)
    assert p.stderr.count("Updating") == 1, show(p)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_update_wait_stops_at_a_signal_with_exit_130(endpointctl_bin, fake, sig):
    fake.describes = [describe("Updating")]
    env = {k: v for k, v in os.environ.items() if k not in ("ENDPOINTD_URL", "http_proxy", "HTTP_PROXY")}
    proc = subprocess.Popen([endpointctl_bin, "--url", fake.url, "update", "web", "--config", "new-config",
                             "--wait"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not fake.sent("DescribeEndpoint") and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert err.splitlines()[-1] == "endpointctl: interrupted", err


def test_update_wait_polls_twice_a_second(endpointctl_bin, fake):
    fake.describes = [describe("Updating")] * 6 + [describe("InService")]
    started = time.monotonic()
    p = run(endpointctl_bin, fake.url, "update", "web", "--config", "new-config", "--wait")
    took = time.monotonic() - started
    assert p.returncode == 0, show(p)
    assert len(fake.sent("DescribeEndpoint")) == 7
    assert 2.5 <= took < 6, f"6 polls 0.5 s apart took {took:.1f} s"


def test_update_wait_json_prints_the_final_description(endpointctl_bin, fake):
    fake.describes = [describe("Updating"), describe("InService")]
    p = run(endpointctl_bin, fake.url, "-o", "json", "update", "web", "--config", "new-config", "--wait")
    assert p.returncode == 0, show(p)
    assert json.loads(p.stdout)["EndpointStatus"] == "InService"


def test_update_weights_wait_ignores_an_earlier_updates_failure_reason(endpointctl_bin, fake):
    fake.describes = [describe("InService", reason="An earlier update was rolled back.")]
    p = run(endpointctl_bin, fake.url, "update-weights", "web", "AllTraffic=2", "--wait")
    assert p.returncode == 0, show(p)
    assert p.stderr.splitlines() == ["InService"], show(p)


def test_update_weights_wait_follows_the_scaling(endpointctl_bin, fake):
    fake.describes = [describe("Updating"), describe("InService")]
    p = run(endpointctl_bin, fake.url, "update-weights", "web", "AllTraffic:2", "--wait")
    assert p.returncode == 0, show(p)
    assert p.stderr.splitlines() == ["Updating", "InService"], show(p)


# ---------------------------------------------------------------------------
# Against endpointd


@pytest.fixture(scope="module")
def serving(api, module_endpoints):
    name, _ = module_endpoints.create("ctl-upd")
    api.wait_in_service(name)
    return name


def test_update_of_an_unknown_endpoint_exits_1_with_the_daemons_words(endpointctl_bin, api):
    name = unique_name("ctl-upd-none")
    p = run(endpointctl_bin, api.url, "update", name, "--config", "demo-config")
    assert p.returncode == 1, show(p)
    assert p.stderr == f'endpointctl: ValidationException: Could not find endpoint "{endpoint_arn(name)}".\n'


def test_update_to_an_unknown_config_exits_1_naming_it(endpointctl_bin, api, serving):
    config = unique_name("no-config")
    p = run(endpointctl_bin, api.url, "update", serving, "--config", config)
    assert p.returncode == 1, show(p)
    assert f'Could not find endpoint configuration "{endpoint_config_arn(config)}".' in p.stderr, show(p)
    assert api.describe(serving)["EndpointConfigName"] == "demo-config"


def test_update_canary_too_large_exits_1_with_the_daemons_constraint(endpointctl_bin, api, serving):
    p = run(endpointctl_bin, api.url, "update", serving, "--config", "two-variant-config", "--canary", "3")
    assert p.returncode == 1, show(p)
    assert p.stderr == (
        "endpointctl: ValidationException: 1 validation error detected: Value '3' at "
        f"'{ROUTING_PATH}.canarySize.value' failed to satisfy constraint: Member must be at most 50% of the "
        "new fleet's 4 instances (INSTANCE_COUNT)\n"), show(p)
    assert api.describe(serving)["EndpointStatus"] == "InService"


def test_update_with_a_wait_interval_over_an_hour_exits_1(endpointctl_bin, api, serving):
    p = run(endpointctl_bin, api.url, "update", serving, "--config", "demo-config", "--wait-interval", "3601")
    assert p.returncode == 1, show(p)
    assert "Member must have value less than or equal to 3600" in p.stderr, show(p)


def test_update_weights_of_an_unknown_endpoint_exits_1(endpointctl_bin, api):
    name = unique_name("ctl-wts-none")
    p = run(endpointctl_bin, api.url, "update-weights", name, "AllTraffic=1")
    assert p.returncode == 1, show(p)
    assert f'Could not find endpoint "{endpoint_arn(name)}".' in p.stderr, show(p)


def test_update_weights_with_a_negative_weight_exits_1_with_the_daemons_constraint(endpointctl_bin, api, serving):
    p = run(endpointctl_bin, api.url, "update-weights", serving, "AllTraffic=-1")
    assert p.returncode == 1, show(p)
    assert ("Value '-1.0' at 'desiredWeightsAndCapacities.1.member.desiredWeight' failed to satisfy constraint: "
            "Member must have value greater than or equal to 0") in p.stderr, show(p)


# Needs the rollout (lib/endpoint_update.c).
def test_update_wait_follows_a_real_update_to_the_new_config(endpointctl_bin, api, endpoints):
    name, _ = endpoints.create("ctl-upd-run")
    api.wait_in_service(name)
    p = run(endpointctl_bin, api.url, "update", name, "--config", "invoke-config", "--wait", "--timeout", "120",
            timeout=180)
    assert p.returncode == 0, show(p)
    lines = p.stderr.splitlines()
    assert lines[0].startswith("Updating"), show(p)
    assert lines[-1] == "InService", show(p)
    assert any("pending invoke-config: AllTraffic" in line for line in lines), show(p)
    d = api.describe(name)
    assert (d["EndpointStatus"], d["EndpointConfigName"]) == ("InService", "invoke-config")


# ---------------------------------------------------------------------------
# bash completion (contrib/completion/endpointctl.bash)

COMPLETION = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                                           "contrib", "completion", "endpointctl.bash"))


def complete(binary, url, *words):
    """COMPREPLY for the line `endpointctl WORDS…` (the last word being completed)."""
    line = [binary, *words]
    script = (f"source {json.dumps(COMPLETION)}\n"
              f"COMP_WORDS=({' '.join(json.dumps(w) for w in line)})\n"
              f"COMP_CWORD={len(line) - 1}\n"
              "_endpointctl\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = {k: v for k, v in os.environ.items() if k not in ("http_proxy", "HTTP_PROXY")}
    env["ENDPOINTD_URL"] = url
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    return [w for w in p.stdout.splitlines() if w]


def test_completion_offers_update_and_update_weights(endpointctl_bin, api):
    assert {"update", "update-weights"} <= set(complete(endpointctl_bin, api.url, "upd"))


def test_completion_offers_the_deployment_options_of_update(endpointctl_bin, api):
    offered = set(complete(endpointctl_bin, api.url, "update", "x", "--"))
    assert {"--config", "--canary", "--linear", "--rolling", "--wait-interval", "--alarm", "--retain",
            "--wait"} <= offered


def test_completion_offers_endpoint_config_names_for_update(endpointctl_bin, api):
    assert "demo-config" in complete(endpointctl_bin, api.url, "update", "x", "--config", "demo-")


def test_completion_offers_the_variant_properties_for_exclude(endpointctl_bin, api):
    assert complete(endpointctl_bin, api.url, "update", "x", "--exclude", "Desired") == [
        "DesiredInstanceCount", "DesiredWeight"]


def test_completion_offers_endpoint_names_to_update_weights_only_first(endpointctl_bin, api, serving):
    assert complete(endpointctl_bin, api.url, "update-weights", serving[:-2]) == [serving]
    assert complete(endpointctl_bin, api.url, "update-weights", serving, serving[:-2]) == []
