"""endpointctl shows text from outside escaped: no control sequence reaches the terminal.

A model's log ends up in FailureReason, its answer's headers in `invoke -v`,
anybody's words in an error message.  In tables and text endpointctl writes
newline, carriage return and tab as \\n, \\r and \\t, other C0 controls, DEL
and bytes that are not UTF-8 as \\xHH, C1 controls as \\u0080-\\u009f; JSON
output is JSON, with those characters \\u-escaped.

Most tests talk to a fake daemon that answers with such text in every field
(no real daemon would let some of them through); the last ones make a real
model fail with escape sequences in its log.
"""

import http.server
import json
import os
import re
import subprocess
import threading

import pytest

import endpointd_harness as h
from endpointd_harness import ApiClient, Daemon, env_setting, unique_name

# ESC [ (CSI) clearing the screen, an OSC setting the window title ended by
# BEL, a C1 CSI, backspace, carriage return, DEL; then an accent, which stays.
EVIL = "boom\x1b[2J\x1b]0;pwned\x07\u009b31m\x08\r\x7fend\tdé"
SHOWN = r"boom\x1b[2J\x1b]0;pwned\x07\u009b31m\x08\r\x7fend\tdé"
# In a header (bytes as latin-1): a raw C1 CSI byte, which is not UTF-8.
EVIL_HEADER = "attrs\x1b[1A\x9b2K\x07"
SHOWN_HEADER = r"attrs\x1b[1A\x9b2K\x07"
# Bytes that are not UTF-8: an overlong ESC, a surrogate, a code point past
# U+10FFFF, a cut sequence; each byte shows as \xHH, while the characters
# that are UTF-8 around them stay as they are.
NOT_UTF8 = "é😀".encode() + b" \xc0\x9b \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82"
SHOWN_NOT_UTF8 = "é😀" + r" \xc0\x9b \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82"
ARN = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/evil"
NOW = 1700000000.5


def raw_controls(text):
    """The characters in text that a terminal would act on (line ends aside)."""
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f or c == "\ufffd"]


def run(binary, url, *args, timeout=30):
    env = {k: v for k, v in os.environ.items() if k not in ("ENDPOINTD_URL", "http_proxy", "HTTP_PROXY")}
    cmd = [binary, "--url", url, *args]
    # Bytes, not text: a raw byte that is not UTF-8 must show up as one.
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    p.cmd = cmd
    p.out = p.stdout.decode("utf-8", errors="replace")
    p.err = p.stderr.decode("utf-8", errors="replace")
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
# A fake daemon that puts control characters everywhere


def _description(status):
    return {
        "EndpointName": "evil",
        "EndpointArn": ARN,
        "EndpointConfigName": EVIL,
        "EndpointStatus": status,
        "FailureReason": EVIL,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        "ProductionVariants": [{
            "VariantName": EVIL,
            "CurrentInstanceCount": 0,
            "DesiredInstanceCount": 1,
            "CurrentWeight": 1.0,
            "DesiredWeight": 1.0,
            "DeployedImages": [{"SpecifiedImage": EVIL, "ResolvedImage": EVIL}],
        }],
    }


ANSWERS = {
    "DescribeEndpoint": (200, _description("Failed")),
    "CreateEndpoint": (200, {"EndpointArn": ARN + EVIL}),
    "ListEndpoints": (200, {"Endpoints": [{"EndpointName": EVIL, "EndpointArn": ARN, "EndpointStatus": EVIL,
                                           "CreationTime": NOW, "LastModifiedTime": NOW}]}),
    "ListTags": (200, {"Tags": [{"Key": EVIL, "Value": EVIL}]}),
    "DeleteEndpoint": (400, {"__type": "ValidationException", "message": EVIL}),
}


class FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/invocations"):
            self._send(200, b"answer", "text/plain", [
                ("X-Amzn-Invoked-Production-Variant", EVIL_HEADER),
                ("X-Amzn-SageMaker-Custom-Attributes", NOT_UTF8.decode("latin-1")),
            ])
            return
        op = self.headers.get("X-Amz-Target", "").split(".", 1)[-1]
        status, body = ANSWERS.get(op, (400, {"__type": "UnknownOperationException", "message": op}))
        headers = [("x-amzn-ErrorType", body["__type"])] if status != 200 else []
        self._send(status, body, "application/x-amz-json-1.1", headers)


@pytest.fixture(scope="module")
def fake():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHandler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_describe_shows_the_failure_reason_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "describe", "evil")
    assert p.returncode == 0, show(p)
    assert f"FailureReason:       {SHOWN}\n" in p.out, show(p)
    assert raw_controls(p.out) == [], show(p)


def test_describe_shows_every_field_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "describe", "evil")
    assert f"EndpointConfigName:  {SHOWN}\n" in p.out, show(p)
    assert p.out.count(SHOWN) == 5, show(p)  # the two above, the variant, both images


def test_describe_variants_table_stays_one_line_a_row(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "describe", "evil")
    lines = p.out.splitlines()
    at = lines.index("ProductionVariants:")
    assert len(lines) == at + 3, show(p)  # the header and one row
    assert lines[at + 2].strip().startswith(SHOWN), show(p)


def test_wait_on_failed_shows_the_failure_reason_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "wait", "evil")
    assert p.returncode == 1, show(p)
    assert f"endpointctl: evil: Failed: {SHOWN}\n" in p.err, show(p)
    assert raw_controls(p.err) == [], show(p)


def test_list_table_shows_names_and_statuses_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "list")
    assert p.returncode == 0, show(p)
    rows = [re.split(r"\s{2,}", line) for line in p.out.splitlines()]
    assert len(rows) == 2, show(p)
    assert rows[1][:2] == [SHOWN, SHOWN], show(p)
    assert raw_controls(p.out) == [], show(p)


def test_tags_table_shows_keys_and_values_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "tags", ARN)
    assert p.returncode == 0, show(p)
    assert p.out.splitlines()[1] == f"{SHOWN}  {SHOWN}", show(p)


def test_create_shows_the_arn_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "create", "evil", "--config", "c")
    assert p.returncode == 0, show(p)
    assert p.out == f"{ARN}{SHOWN}\n", show(p)


def test_api_error_message_is_shown_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "delete", "evil")
    assert p.returncode == 1, show(p)
    assert p.err == f"endpointctl: ValidationException: {SHOWN}\n", show(p)


def test_invoke_verbose_shows_answer_headers_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "-v", "invoke", "evil")
    assert p.returncode == 0, show(p)
    assert p.stdout == b"answer", show(p)  # the body is the model's, as it is
    assert f"InvokedProductionVariant: {SHOWN_HEADER}\n" in p.err, show(p)
    assert raw_controls(p.err) == [], show(p)


def test_invoke_verbose_shows_bytes_that_are_not_utf8_escaped(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "-v", "invoke", "evil")
    assert f"CustomAttributes: {SHOWN_NOT_UTF8}\n" in p.err, show(p)
    assert raw_controls(p.err) == [], show(p)


def test_json_output_is_the_same_value_with_no_raw_control(endpointctl_bin, fake):
    p = run(endpointctl_bin, fake, "-o", "json", "describe", "evil")
    assert p.returncode == 0, show(p)
    assert json.loads(p.out)["FailureReason"] == EVIL
    assert raw_controls(p.out) == [], show(p)
    assert "\\u009b" in p.out and "\\u007f" in p.out, show(p)


# ---------------------------------------------------------------------------
# A real model that fails with escape sequences in its log

# demo-model refuses a bad DEMO_START_DELAY_MS, quoting it, and exits 2.
LOG_EVIL = "\x1b[31mred\x1b]0;pwned\x07\u009b2J"
LOG_SHOWN = r"\x1b[31mred\x1b]0;pwned\x07\u009b2J"


def _escapes_yaml():
    return "\n".join([
        "Models:",
        "  - ModelName: demo-escapes",
        "    PrimaryContainer:",
        f"      Image: {json.dumps('{image}')}",
        "      Environment:",
        f"        DEMO_START_DELAY_MS: {json.dumps(LOG_EVIL)}",
        "EndpointConfigs:",
        "  - EndpointConfigName: escapes-config",
        "    ProductionVariants:",
        "      - VariantName: AllTraffic",
        "        ModelName: demo-escapes",
        "        InitialInstanceCount: 1",
        f"        InstanceType: {h.INSTANCE_TYPE}",
        "",
    ])


@pytest.fixture(scope="module")
def escapes_daemon(endpointd_bin, docker_sock, demo_image, docker):
    """(api, name of a Failed endpoint whose FailureReason carries LOG_EVIL)."""
    d = Daemon(endpointd_bin, docker_sock, demo_image, extra_yaml=_escapes_yaml().replace("{image}", demo_image))
    h._DAEMONS.append(d)
    try:
        try:
            d.start()
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)
        api = ApiClient("127.0.0.1", d.port)
        name = unique_name("ctl-esc")
        api.ok("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "escapes-config"})
        desc = api.wait_settled(name, timeout=h.STARTUP_TIMEOUT_S + 30)
        assert desc["EndpointStatus"] == "Failed", desc
        assert LOG_EVIL in desc["FailureReason"], desc
        yield api, name
    finally:
        try:
            if d.proc is not None and d.proc.poll() is None:
                for n in ApiClient("127.0.0.1", d.port).endpoint_names():
                    h._cleanup_endpoint(ApiClient("127.0.0.1", d.port), n)
        finally:
            d.stop()
            owner_file = os.path.join(d.workdir, "state", "daemon-id")
            if os.path.exists(owner_file):
                with open(owner_file) as f:
                    owner = f.read().strip()
                for c in docker.containers(f"{h.LABEL}.managed=true", f"{h.LABEL}.owner={owner}"):
                    docker.remove(c["Id"])
            h._DAEMONS.remove(d)


def test_describe_of_a_model_failed_with_escapes_in_its_log_shows_them_escaped(endpointctl_bin, escapes_daemon):
    api, name = escapes_daemon
    p = run(endpointctl_bin, api.url, "describe", name)
    assert p.returncode == 0, show(p)
    line = next((x for x in p.out.splitlines() if x.startswith("FailureReason:")), "")
    assert LOG_SHOWN in line, show(p)
    assert raw_controls(p.out) == [], show(p)


def test_wait_on_a_model_failed_with_escapes_in_its_log_shows_them_escaped(endpointctl_bin, escapes_daemon):
    api, name = escapes_daemon
    p = run(endpointctl_bin, api.url, "wait", name)
    assert p.returncode == 1, show(p)
    assert LOG_SHOWN in p.err, show(p)
    assert raw_controls(p.err) == [], show(p)


def test_json_of_a_model_failed_with_escapes_is_the_api_answer(endpointctl_bin, escapes_daemon):
    api, name = escapes_daemon
    p = run(endpointctl_bin, api.url, "-o", "json", "describe", name)
    assert p.returncode == 0, show(p)
    assert json.loads(p.out)["FailureReason"] == api.describe(name)["FailureReason"]
    assert raw_controls(p.out) == [], show(p)
