"""endpointctl, the operator CLI, against the session's endpointd.

Every command is run as an operator would run it (the real binary, its exit
status, its stdout and stderr) and checked against what the API itself says.
The binary is $ENDPOINTCTL_BIN (tests/run-docker-tests derives it from
top_builddir); without one these tests skip.
"""

import glob
import json
import os
import pty
import re
import secrets
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from endpointd_harness import (
    ENDPOINT_CONFIGS,
    MODELS,
    SESSION_PREFIX,
    STARTUP_TIMEOUT_S,
    endpoint_arn,
    env_setting,
    free_port,
    model_arn,
    unique_name,
)

TESTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
YAML_DIR = os.path.normpath(os.path.join(TESTS_DIR, "data", "yaml"))
BAD_DIR = os.path.join(YAML_DIR, "bad")
GOOD_DIR = os.path.join(YAML_DIR, "good")
OCTET = "application/octet-stream"
LOCAL_TIME_RE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


class Ctl:
    """Runs endpointctl with --url pointing at the session daemon."""

    def __init__(self, binary, url):
        self.binary = binary
        self.url = url

    @staticmethod
    def env(extra=None):
        # No credentials, profile or region of the machine's: endpointctl
        # signs with them when they are there.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        for k in ("ENDPOINTD_URL", "DOCKER_HOST", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(k, None)
        env["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_CONFIG_FILE"] = "/nonexistent/endpointd-tests"
        env.update(extra or {})
        return env

    def run(self, *args, url=None, input=None, env=None, timeout=120, text=True, stderr=None):
        """url: None for the daemon's, False for no --url at all."""
        url = self.url if url is None else url
        cmd = [self.binary] + (["--url", url] if url else []) + list(args)
        kw = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE if stderr is None else stderr}
        p = subprocess.run(cmd, input=input, env=self.env(env), timeout=timeout, text=text, **kw)
        p.cmd = cmd
        return p

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        assert p.returncode == 0, show(p)
        return p

    def json(self, *args, **kw):
        return json.loads(self.ok("-o", "json", *args, **kw).stdout)


def show(p):
    return f"{' '.join(p.cmd)} -> {p.returncode}\nstdout: {p.stdout!r}\nstderr: {p.stderr!r}"


def table(stdout):
    """A table's lines, split on runs of two or more spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def endpointctl_bin():
    binary = env_setting("ENDPOINTCTL_BIN")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"ENDPOINTCTL_BIN={binary} is not an executable")
    return binary


@pytest.fixture(scope="session")
def ctl(endpointctl_bin, api):
    return Ctl(endpointctl_bin, api.url)


@pytest.fixture(scope="session")
def offline(endpointctl_bin):
    """For commands that need no daemon."""
    return Ctl(endpointctl_bin, None)


# ---------------------------------------------------------------------------
# Version, help and usage errors


def test_version_prints_the_package_version(offline):
    p = offline.ok("--version", url=False)
    assert re.fullmatch(r"endpointctl \d+\.\d+\.\d+\S*\n", p.stdout), show(p)


COMMANDS = ["create", "describe", "list", "delete", "wait", "invoke", "configs", "models", "create-model",
            "create-config", "delete-model", "delete-config", "tags", "check-config", "metrics"]


def test_help_lists_every_command(offline):
    p = offline.ok("--help", url=False)
    listed = {line.split()[0] for line in p.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert set(COMMANDS) <= listed, show(p)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_shows_its_usage_and_exits_0(offline, command):
    p = offline.ok(command, "--help", url=False)
    assert p.stdout.startswith(f"Usage: endpointctl {command}"), show(p)


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["--frobnicate", "list"],
    ["describe"],
    ["describe", "a", "b"],
    ["list", "--frobnicate"],
    ["-o", "yaml", "list"],
    ["create", "x"],
    ["create", "x", "--config", "demo-config", "--tag", "novalue"],
    ["list", "--page-size", "0"],
    ["wait", "x", "--for", "Creating"],
    ["wait", "x", "--timeout", "soon"],
    ["check-config"],
], ids=lambda a: " ".join(a) or "no-command")
def test_bad_usage_exits_2_with_a_usage_line(offline, args):
    p = offline.run(*args, url=False)
    assert p.returncode == 2, show(p)
    assert p.stderr.startswith("endpointctl: "), show(p)
    assert "Usage: endpointctl" in p.stderr, show(p)
    assert p.stdout == "", show(p)


def test_url_of_an_unknown_scheme_is_a_usage_error(offline):
    p = offline.run("list", url="ftp://127.0.0.1:8780")
    assert p.returncode == 2, show(p)


# ---------------------------------------------------------------------------
# Reaching the daemon


def test_unreachable_daemon_exits_1_saying_where_it_looked(offline):
    url = f"http://127.0.0.1:{free_port()}"
    p = offline.run("list", url=url)
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith(f"endpointctl: cannot reach endpointd at {url}: "), show(p)


def test_unreachable_unix_socket_exits_1_saying_why(offline, tmp_path):
    url = f"unix:{tmp_path}/none.sock"
    p = offline.run("list", url=url)
    assert p.returncode == 1, show(p)
    assert p.stderr == f"endpointctl: cannot reach endpointd at {url}: No such file or directory\n", show(p)


def test_url_defaults_to_ENDPOINTD_URL(ctl):
    p = ctl.run("list", url=False, env={"ENDPOINTD_URL": ctl.url})
    assert p.returncode == 0, show(p)


def test_url_option_wins_over_ENDPOINTD_URL(ctl):
    p = ctl.run("list", env={"ENDPOINTD_URL": f"http://127.0.0.1:{free_port()}"})
    assert p.returncode == 0, show(p)


class UnixRelay:
    """A Unix socket whose connections are relayed to the daemon's TCP port."""

    def __init__(self, host, port):
        self.dir = tempfile.mkdtemp(prefix="ectl.", dir="/tmp")  # short: sun_path is 108 bytes
        self.path = os.path.join(self.dir, "endpointd.sock")
        self.target = (host, port)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(16)
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def unix_relay(api):
    relay = UnixRelay(api.host, api.port)
    yield relay
    relay.close()


def test_unix_socket_url_reaches_the_daemon(ctl, unix_relay, ready_endpoint):
    d = ctl.json("describe", ready_endpoint, url=f"unix:{unix_relay.path}")
    assert d["EndpointName"] == ready_endpoint
    assert unix_relay.connections >= 1


# ---------------------------------------------------------------------------
# create


@pytest.fixture(scope="module")
def created(ctl, module_endpoints):
    """`create --tag … --wait` of a slow-starting endpoint, stderr not a terminal."""
    name = module_endpoints.adopt(unique_name("ctl-mk"))
    started = time.monotonic()
    p = ctl.run("create", name, "--config", "slow-config", "--tag", "team=ml", "--tag", "env=dev",
                "--wait", "--timeout", str(STARTUP_TIMEOUT_S + 30), timeout=STARTUP_TIMEOUT_S + 60)
    return name, p, time.monotonic() - started


def test_create_prints_the_endpoint_arn(created):
    name, p, _ = created
    assert p.stdout == endpoint_arn(name) + "\n", show(p)


def test_create_wait_exits_0_once_the_endpoint_is_in_service(api, created):
    name, p, _ = created
    assert p.returncode == 0, show(p)
    assert api.describe(name)["EndpointStatus"] == "InService"


def test_create_sets_the_tags_given(api, created):
    name, _, _ = created
    tags = api.ok("ListTags", {"ResourceArn": endpoint_arn(name)})["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "ml", "env": "dev"}


def test_wait_off_a_terminal_prints_a_plain_line_per_status_change(created):
    name, p, _ = created
    assert "\r" not in p.stderr, show(p)
    lines = p.stderr.splitlines()
    statuses = [re.match(rf"^{re.escape(name)}: (\w+)", line).group(1) for line in lines]
    assert statuses == ["Creating", "InService"], show(p)


def test_wait_progress_shows_instances_up_of_desired(created):
    name, p, _ = created
    last = p.stderr.splitlines()[-1]
    assert re.fullmatch(rf"{re.escape(name)}: InService, 1/1 instances up, \d+(\.\d)?s", last), show(p)


def test_create_json_prints_the_api_answer(ctl, endpoints):
    name = endpoints.adopt(unique_name("ctl-mkjson"))
    assert ctl.json("create", name, "--config", "demo-config") == {"EndpointArn": endpoint_arn(name)}


def test_create_wait_json_prints_the_in_service_description(ctl, endpoints):
    name = endpoints.adopt(unique_name("ctl-mkwj"))
    d = ctl.json("create", name, "--config", "demo-config", "--wait", timeout=STARTUP_TIMEOUT_S + 60)
    assert (d["EndpointName"], d["EndpointStatus"]) == (name, "InService")


def test_create_of_an_existing_endpoint_exits_1_with_validation_exception(ctl, ready_endpoint):
    p = ctl.run("create", ready_endpoint, "--config", "demo-config")
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: ValidationException: Cannot create already existing endpoint"), show(p)


def test_create_with_an_unknown_config_exits_1_naming_it(ctl, endpoints):
    name = endpoints.adopt(unique_name("ctl-nocfg"))
    p = ctl.run("create", name, "--config", "no-such-config")
    assert p.returncode == 1, show(p)
    assert "ValidationException: Could not find endpoint configuration" in p.stderr, show(p)


# ---------------------------------------------------------------------------
# describe


def test_describe_shows_key_value_lines(api, ctl, ready_endpoint):
    p = ctl.ok("describe", ready_endpoint)
    fields = dict(re.match(r"^(\w+):\s+(.*)$", line).groups()
                  for line in p.stdout.splitlines() if re.match(r"^\w+:\s+\S", line))
    assert fields["EndpointName"] == ready_endpoint, show(p)
    assert fields["EndpointArn"] == endpoint_arn(ready_endpoint), show(p)
    assert fields["EndpointConfigName"] == "demo-config", show(p)
    assert fields["EndpointStatus"] == "InService", show(p)


def test_describe_shows_times_in_local_time(api, ctl, ready_endpoint):
    created = api.describe(ready_endpoint)["CreationTime"]
    p = ctl.ok("describe", ready_endpoint)
    want = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    assert re.search(rf"^CreationTime:\s+{re.escape(want)}$", p.stdout, re.M), show(p)


def test_describe_lists_the_variants_with_instances_up_of_desired(ctl, ready_endpoint):
    p = ctl.ok("describe", ready_endpoint)
    rows = table(p.stdout.split("ProductionVariants:\n", 1)[1])
    assert rows[0][:3] == ["VARIANT", "INSTANCES", "WEIGHT"], show(p)
    assert rows[1][:3] == ["AllTraffic", "1/1", "1"], show(p)


def test_describe_json_is_the_api_answer(api, ctl, ready_endpoint):
    want = api.describe(ready_endpoint)
    got = ctl.json("describe", ready_endpoint)
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == (pytest.approx(v, abs=1e-3) if isinstance(v, float) else v), k


def test_describe_unknown_endpoint_exits_1_with_validation_exception(ctl):
    p = ctl.run("describe", "no-such-endpoint")
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith(
        f'endpointctl: ValidationException: Could not find endpoint "{endpoint_arn("no-such-endpoint")}".'), show(p)
    assert p.stdout == ""


# ---------------------------------------------------------------------------
# list


@pytest.fixture(scope="module")
def listed(api, module_endpoints):
    token = f"{SESSION_PREFIX}-cl{secrets.token_hex(2)}"
    names = [module_endpoints.create(s, name=f"{token}-{s}")[0] for s in ("a", "b", "c")]
    return token, names


def test_list_pages_through_every_endpoint(ctl, listed):
    token, names = listed
    body = ctl.json("list", "--page-size", "2", "--name-contains", token)
    assert sorted(e["EndpointName"] for e in body["Endpoints"]) == sorted(names)
    assert "NextToken" not in body


def test_list_table_has_a_header_and_a_row_per_endpoint(ctl, listed):
    token, names = listed
    rows = table(ctl.ok("list", "--name-contains", token).stdout)
    assert rows[0] == ["NAME", "STATUS", "CREATED", "MODIFIED"]
    assert sorted(r[0] for r in rows[1:]) == sorted(names)
    for r in rows[1:]:
        assert re.fullmatch(LOCAL_TIME_RE, r[2]), r


def test_list_table_columns_are_aligned(ctl, listed):
    token, _ = listed
    lines = ctl.ok("list", "--name-contains", token).stdout.splitlines()
    col = lines[0].index("STATUS")
    for line in lines[1:]:
        assert line[col - 2:col] == "  " and line[col] != " ", lines


def test_list_status_filter_shows_only_that_status(ctl, failed_endpoint):
    body = ctl.json("list", "--status", "Failed", "--name-contains", SESSION_PREFIX)
    assert failed_endpoint in [e["EndpointName"] for e in body["Endpoints"]]
    assert {e["EndpointStatus"] for e in body["Endpoints"]} == {"Failed"}


def test_list_bad_status_exits_1_with_validation_exception(ctl):
    p = ctl.run("list", "--status", "Sleeping")
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: ValidationException: 1 validation error detected"), show(p)


# ---------------------------------------------------------------------------
# delete and wait


@pytest.fixture(scope="module")
def failed_endpoint(api, module_endpoints):
    """An endpoint whose container exits at once: Failed within seconds."""
    name, _ = module_endpoints.create("ctl-fail", config="exit-config")
    d = api.wait_settled(name, timeout=STARTUP_TIMEOUT_S + 30)
    assert d["EndpointStatus"] == "Failed", d
    return name


def in_service(api, endpoints, what, config="demo-config"):
    name, _ = endpoints.create(what, config=config)
    api.wait_in_service(name)
    return name


def test_delete_wait_returns_once_the_endpoint_is_gone(api, ctl, endpoints):
    name = in_service(api, endpoints, "ctl-del")
    p = ctl.run("delete", name, "--wait", timeout=90)
    assert p.returncode == 0, show(p)
    assert api.describe(name) is None


def test_delete_wait_progress_ends_with_deleted(api, ctl, endpoints):
    name = in_service(api, endpoints, "ctl-delp")
    p = ctl.ok("delete", name, "--wait", timeout=90)
    assert re.fullmatch(rf"{re.escape(name)}: Deleted, \d+(\.\d)?s", p.stderr.splitlines()[-1]), show(p)


def test_delete_unknown_endpoint_exits_1_with_validation_exception(ctl):
    p = ctl.run("delete", "no-such-endpoint")
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: ValidationException: Could not find endpoint"), show(p)


def test_wait_for_deleted_returns_once_the_endpoint_is_gone(api, ctl, endpoints):
    name = in_service(api, endpoints, "ctl-waitdel")
    api.ok("DeleteEndpoint", {"EndpointName": name})
    p = ctl.run("wait", name, "--for", "Deleted", timeout=90)
    assert p.returncode == 0, show(p)
    assert api.describe(name) is None


def test_wait_for_deleted_of_a_missing_endpoint_returns_at_once(ctl):
    started = time.monotonic()
    p = ctl.run("wait", "no-such-endpoint", "--for", "Deleted")
    assert p.returncode == 0, show(p)
    assert time.monotonic() - started < 5


def test_wait_for_in_service_of_a_missing_endpoint_exits_1(ctl):
    p = ctl.run("wait", "no-such-endpoint")
    assert p.returncode == 1, show(p)
    assert "ValidationException: Could not find endpoint" in p.stderr, show(p)


def test_wait_on_a_failed_endpoint_exits_1_with_its_failure_reason(api, ctl, failed_endpoint):
    reason = api.describe(failed_endpoint)["FailureReason"]
    p = ctl.run("wait", failed_endpoint)
    assert p.returncode == 1, show(p)
    assert f"endpointctl: {failed_endpoint}: Failed: {reason}" in p.stderr, show(p)


def test_wait_timeout_exits_1_saying_it_timed_out(api, ctl, endpoints):
    name, _ = endpoints.create("ctl-slow", config="slow-config")  # 3 s before it listens
    started = time.monotonic()
    p = ctl.run("wait", name, "--timeout", "0.5")
    took = time.monotonic() - started
    assert p.returncode == 1, show(p)
    assert f"endpointctl: {name}: timed out after 0.5 s waiting for InService" in p.stderr, show(p)
    assert took < 2.5, f"took {took:.1f} s"


def test_wait_for_an_in_service_endpoint_returns_at_once(ctl, ready_endpoint):
    started = time.monotonic()
    ctl.ok("wait", ready_endpoint)
    assert time.monotonic() - started < 5


def test_wait_on_a_terminal_rewrites_one_line(ctl, ready_endpoint):
    master, slave = pty.openpty()
    try:
        p = ctl.run("wait", ready_endpoint, stderr=slave)
        os.close(slave)
        slave = None
        out = b""
        while select.select([master], [], [], 1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the other end is closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0, show(p)
    text = out.decode()
    assert text.startswith("\r" + f"{ready_endpoint}: InService, 1/1 instances up, "), repr(text)
    assert text.count("\n") == 1 and text.endswith("\n"), repr(text)


# ---------------------------------------------------------------------------
# invoke


@pytest.fixture(scope="module")
def invoke_endpoint(api, module_endpoints):
    return in_service(api, module_endpoints, "ctl-inv", config="invoke-config")


@pytest.fixture(scope="module")
def weighted_endpoint(api, module_endpoints):
    return in_service(api, module_endpoints, "ctl-wt", config="weighted-config")


def test_invoke_writes_the_answer_body_raw_to_stdout(ctl, invoke_endpoint):
    body = bytes(range(256)) * 400 + b"\r\n\x00end"
    p = ctl.run("invoke", invoke_endpoint, "--accept", OCTET, input=body, text=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout == body


def test_invoke_sends_content_type_accept_and_custom_attributes(ctl, invoke_endpoint):
    p = ctl.ok("invoke", invoke_endpoint, "--content-type", "text/csv", "--accept", "application/json",
               "--custom-attributes", "trace=abc", input="1,2,3\n")
    seen = json.loads(p.stdout)
    assert (seen["content_type"], seen["accept"], seen["custom_attributes"], seen["length"]) == \
        ("text/csv", "application/json", "trace=abc", 6), seen


def test_invoke_verbose_names_the_invoked_variant_on_stderr(ctl, invoke_endpoint):
    p = ctl.ok("-v", "invoke", invoke_endpoint, input="{}")
    assert "InvokedProductionVariant: AllTraffic" in p.stderr.splitlines(), show(p)
    assert "InvokedProductionVariant" not in p.stdout


def test_invoke_without_verbose_keeps_stderr_empty(ctl, invoke_endpoint):
    p = ctl.ok("invoke", invoke_endpoint, input="{}")
    assert p.stderr == ""


def test_invoke_variant_option_picks_the_variant(ctl, weighted_endpoint):
    for _ in range(4):  # Light has weight 1 of 4: by chance four times in a row is 1 in 256
        p = ctl.ok("-v", "invoke", weighted_endpoint, "--variant", "Light", input="{}")
        assert json.loads(p.stdout)["variant"] == "Light", show(p)
        assert "InvokedProductionVariant: Light" in p.stderr.splitlines(), show(p)


def test_invoke_unknown_endpoint_exits_1_with_validation_error(ctl):
    p = ctl.run("invoke", "no-such-endpoint", input="{}")
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: ValidationError: Endpoint no-such-endpoint of account"), show(p)
    assert p.stdout == ""


def test_invoke_model_error_exits_1_with_model_error(api, ctl, endpoints):
    name = in_service(api, endpoints, "ctl-inv500", config="invoke-500-config")
    p = ctl.run("invoke", name, input="{}")
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: ModelError: Received server error (500)"), show(p)
    assert p.stdout == ""


# ---------------------------------------------------------------------------
# configs, models, tags, metrics


def test_configs_lists_every_endpoint_config_across_pages(ctl):
    body = ctl.json("configs", "--page-size", "1")
    assert {c["EndpointConfigName"] for c in body["EndpointConfigs"]} >= set(ENDPOINT_CONFIGS)
    assert "NextToken" not in body


def test_configs_table_shows_names_and_local_creation_times(ctl):
    rows = table(ctl.ok("configs").stdout)
    assert rows[0] == ["NAME", "CREATED"]
    by_name = dict(rows[1:])
    assert re.fullmatch(LOCAL_TIME_RE, by_name["demo-config"]), rows


def test_models_lists_every_model_across_pages(ctl):
    body = ctl.json("models", "--page-size", "1")
    assert {m["ModelName"] for m in body["Models"]} >= set(MODELS)
    assert "NextToken" not in body


def test_models_table_shows_names(ctl):
    rows = table(ctl.ok("models").stdout)
    assert rows[0] == ["NAME", "CREATED"]
    assert "demo" in [r[0] for r in rows[1:]]


def test_tags_of_an_endpoint_by_name_as_a_table(ctl, created):
    name, _, _ = created
    rows = table(ctl.ok("tags", name).stdout)
    assert rows[0] == ["KEY", "VALUE"]
    assert sorted(map(tuple, rows[1:])) == [("env", "dev"), ("team", "ml")]


def test_tags_of_an_endpoint_by_arn_as_json(ctl, created):
    name, _, _ = created
    body = ctl.json("tags", endpoint_arn(name))
    assert sorted((t["Key"], t["Value"]) for t in body["Tags"]) == [("env", "dev"), ("team", "ml")]


def test_tags_of_a_model_by_arn(ctl):
    assert isinstance(ctl.json("tags", model_arn("demo"))["Tags"], list)


def test_tags_of_an_unknown_endpoint_exits_1(ctl):
    p = ctl.run("tags", "no-such-endpoint")
    assert p.returncode == 1, show(p)
    assert p.stderr.startswith("endpointctl: ValidationException: Could not find endpoint"), show(p)


def test_metrics_prints_the_prometheus_text(ctl):
    p = ctl.ok("metrics")
    assert "# TYPE endpointd_" in p.stdout, show(p)


# ---------------------------------------------------------------------------
# check-config (offline, the daemon's own loader)


def _bad_files():
    return sorted(glob.glob(os.path.join(BAD_DIR, "*.yaml")))


def _expectation(path):
    """What the error must contain, as tests/unit/test_config.c reads it."""
    with open(path, "rb") as f:
        first = f.readline().decode().rstrip("\n")
    assert first.startswith("# expect: "), path
    expect = first[len("# expect: "):].replace("{dir}", BAD_DIR)
    head = expect.split(":", 1)[0]
    if head.endswith(".yaml"):  # inc/x.yaml:3:5: … names the included file
        return f"{BAD_DIR}/{expect}"
    return f"{path}:{expect}"


@pytest.mark.parametrize("path", _bad_files(), ids=os.path.basename)
def test_check_config_refuses_a_bad_file_with_its_position(offline, path):
    p = offline.run("check-config", path, url=False)
    assert p.returncode == 1, show(p)
    assert _expectation(path) in p.stderr, show(p)
    assert p.stdout == "", show(p)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(GOOD_DIR, "*.yaml"))), ids=os.path.basename)
def test_check_config_accepts_a_good_file(offline, path):
    p = offline.run("check-config", path, url=False)
    assert p.returncode == 0, show(p)
    assert re.fullmatch(rf"{re.escape(path)}: OK \(\d+ models, \d+ endpoint configs\)\n", p.stdout), show(p)


def test_check_config_counts_models_and_endpoint_configs_with_includes(offline):
    path = os.path.join(GOOD_DIR, "main.yaml")
    p = offline.ok("check-config", path, url=False)
    m = re.search(r"OK \((\d+) models, (\d+) endpoint configs\)", p.stdout)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, show(p)


def test_check_config_of_good_and_bad_files_checks_all_and_exits_1(offline):
    good = os.path.join(GOOD_DIR, "full.yaml")
    bad = os.path.join(BAD_DIR, "duplicate-key.yaml")
    p = offline.run("check-config", bad, good, url=False)
    assert p.returncode == 1, show(p)
    assert p.stdout.startswith(f"{good}: OK ("), show(p)
    assert _expectation(bad) in p.stderr, show(p)


def test_check_config_of_a_missing_file_exits_1(offline, tmp_path):
    p = offline.run("check-config", str(tmp_path / "nope.yaml"), url=False)
    assert p.returncode == 1, show(p)
    assert str(tmp_path / "nope.yaml") in p.stderr, show(p)


def test_check_config_json_says_which_files_are_valid(offline):
    good = os.path.join(GOOD_DIR, "full.yaml")
    bad = os.path.join(BAD_DIR, "duplicate-key.yaml")
    p = offline.run("-o", "json", "check-config", good, bad, url=False)
    assert p.returncode == 1, show(p)
    files = json.loads(p.stdout)["Files"]
    assert [(f["File"], f["Valid"]) for f in files] == [(good, True), (bad, False)]
    assert _expectation(bad) in files[1]["Error"]


# ---------------------------------------------------------------------------
# bash completion (contrib/completion/endpointctl.bash)

COMPLETION = os.path.normpath(os.path.join(TESTS_DIR, os.pardir, "contrib", "completion", "endpointctl.bash"))


def complete(ctl, *words, env=None):
    """COMPREPLY for the line `endpointctl WORDS…` (the last word being completed)."""
    line = [ctl.binary, *words]
    script = (f"source {json.dumps(COMPLETION)}\n"
              f"COMP_WORDS=({' '.join(json.dumps(w) for w in line)})\n"
              f"COMP_CWORD={len(line) - 1}\n"
              "_endpointctl\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                       env=Ctl.env({"ENDPOINTD_URL": ctl.url, **(env or {})}), timeout=30)
    assert p.returncode == 0, p.stderr
    return [w for w in p.stdout.splitlines() if w]


def test_completion_offers_the_commands(ctl):
    assert set(complete(ctl, "")) >= set(COMMANDS)


def test_completion_offers_a_commands_options(ctl):
    assert {"--wait", "--for", "--timeout"} & set(complete(ctl, "delete", "--")) == {"--wait", "--timeout"}


def test_completion_offers_output_formats(ctl):
    assert complete(ctl, "-o", "") == ["table", "json"]


def test_completion_offers_the_profiles_of_the_aws_files(ctl, tmp_path):
    creds, conf = tmp_path / "credentials", tmp_path / "config"
    creds.write_text("[default]\naws_access_key_id = A\n[team-a]\naws_access_key_id = B\n")
    conf.write_text("[default]\nregion = us-east-1\n[profile team-b]\nregion = eu-west-1\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(creds), "AWS_CONFIG_FILE": str(conf)}
    assert complete(ctl, "--profile", "", env=env) == ["default", "team-a", "team-b"]
    assert complete(ctl, "--profile", "team-", env=env) == ["team-a", "team-b"]


def test_completion_offers_the_connection_options(ctl):
    assert {"--profile", "--region", "--ca-bundle"} <= set(complete(ctl, "--"))
    assert {"--profile", "--region", "--ca-bundle"} <= set(complete(ctl, "list", "--"))


def test_completion_offers_endpoint_names_from_the_daemon(ctl, ready_endpoint):
    assert complete(ctl, "describe", ready_endpoint[:-2]) == [ready_endpoint]


def test_completion_offers_endpoint_config_names_for_create(ctl):
    assert "demo-config" in complete(ctl, "create", "x", "--config", "demo-")
