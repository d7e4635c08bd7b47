"""endpointctl signs its requests as the AWS CLI does, and speaks https.

A daemon of this module's own reads a credentials file written here (mode
0600) with three keys (admin: sagemaker:* on everything; reader:
sagemaker:Describe* on everything; pipeline: sagemaker:InvokeEndpoint on
endpoint/team-a-*) and keeps /metrics closed.  endpointctl runs with an
environment of the test's making: a HOME of its own, and only the AWS_*
variables each test sets.

Map of this file:
  - where the keys come from: the environment, ~/.aws/credentials,
    AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE, ~/.aws/config, --profile;
    an unknown profile; none at all
  - what the daemon answers, printed: a wrong secret, a key not allowed the
    call, a region not the daemon's
  - every kind of request signed: control plane, invoke, metrics, over a
    Unix socket too; a daemon without keys takes signed requests
  - https: --ca-bundle and AWS_CA_BUNDLE against a server with a
    certificate from a CA made here (python's http.server in ssl, a canned
    answer), and the failures: no bundle, another CA, a missing file
"""

import http.server
import json
import os
import shutil
import ssl
import subprocess
import threading

import pytest

from endpointd_harness import ACCOUNT, REGION, SESSION_PREFIX, AuthDaemon
from test_endpointctl import UnixRelay, endpointctl_bin  # noqa: F401

OCTET = "application/octet-stream"
OPENSSL = "/usr/bin/openssl"
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                 "Check your AWS Secret Access Key and signing method. Consult the service "
                 "documentation for details.")


class Key:
    def __init__(self, name, key_id, secret):
        self.name, self.id, self.secret = name, key_id, secret


ADMIN = Key("admin", "AKIDCTLADMIN00000001", "admin/Secret+Key0000000000000000000000001")
READER = Key("reader", "AKIDCTLREADER0000001", "reader/Secret+Key000000000000000000000002")
PIPELINE = Key("pipeline", "AKIDCTLPIPELINE00001", "pipeline/Secret+Key00000000000000000003")

CREDENTIALS = f"""keys:
  - name: {ADMIN.name}
    access_key_id: {ADMIN.id}
    secret_access_key: "{ADMIN.secret}"
    allow:
      - actions: ["sagemaker:*"]
        resources: ["*"]
  - name: {READER.name}
    access_key_id: {READER.id}
    secret_access_key: "{READER.secret}"
    allow:
      - actions: ["sagemaker:Describe*"]
        resources: ["*"]
  - name: {PIPELINE.name}
    access_key_id: {PIPELINE.id}
    secret_access_key: "{PIPELINE.secret}"
    allow:
      - actions: ["sagemaker:InvokeEndpoint"]
        resources: ["arn:aws:sagemaker:*:*:endpoint/team-a-*"]
"""

TEAM_A = f"team-a-{SESSION_PREFIX}-ctl"


def arn(name):
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"


def key_env(key):
    return {"AWS_ACCESS_KEY_ID": key.id, "AWS_SECRET_ACCESS_KEY": key.secret}


class SignedCtl:
    """endpointctl with an environment of the test's own making."""

    def __init__(self, binary, url, home):
        self.binary, self.url, self.home = binary, url, home

    def run(self, *args, env=None, input=None, url=None, timeout=120):
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("AWS_") and k not in ("ENDPOINTD_URL", "HOME") and
                k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        base["HOME"] = str(self.home)
        base.update(env or {})
        cmd = [self.binary, "--url", url or self.url, *args]
        p = subprocess.run(cmd, env=base, input=input, capture_output=True, timeout=timeout,
                           text=isinstance(input, str) or input is None)
        p.cmd = cmd
        return p


def show(p):
    return f"{' '.join(p.cmd)} -> {p.returncode}\nstdout: {p.stdout!r}\nstderr: {p.stderr!r}"


def ok(p):
    assert p.returncode == 0, show(p)
    return p


def refused(p, line):
    assert p.returncode == 1, show(p)
    assert p.stderr.rstrip("\n").endswith(line), show(p)
    return p


@pytest.fixture(scope="module")
def auth_daemon(endpointd_bin, docker_sock, demo_image, docker):
    d = AuthDaemon(endpointd_bin, docker_sock, demo_image)
    creds = d.write_credentials(CREDENTIALS)
    d.extra_config = ("auth:", f"  credentials: {json.dumps(creds)}", "  metrics_open: false")
    try:
        d.start()
    except RuntimeError as e:
        shutil.rmtree(d.workdir, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    yield d
    err = d.stop()
    shutil.rmtree(d.workdir, ignore_errors=True)
    if err:
        pytest.fail("teardown: " + err, pytrace=False)


@pytest.fixture
def home(tmp_path):
    (tmp_path / ".aws").mkdir()
    return tmp_path


@pytest.fixture
def ctl(endpointctl_bin, auth_daemon, home):
    return SignedCtl(endpointctl_bin, f"http://127.0.0.1:{auth_daemon.port}", home)


@pytest.fixture(scope="module")
def in_service(endpointctl_bin, auth_daemon, tmp_path_factory):
    """TEAM_A, created InService by endpointctl with the admin key, deleted after."""
    admin = SignedCtl(endpointctl_bin, f"http://127.0.0.1:{auth_daemon.port}",
                      tmp_path_factory.mktemp("admin-home"))
    ok(admin.run("create", TEAM_A, "--config", "demo-config", "--wait", "--timeout", "90",
                 env=key_env(ADMIN)))
    yield TEAM_A
    ok(admin.run("delete", TEAM_A, "--wait", "--timeout", "60", env=key_env(ADMIN)))


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def profile_text(name, key, extra=""):
    return f"[{name}]\naws_access_key_id = {key.id}\naws_secret_access_key = {key.secret}\n{extra}"


# ---------------------------------------------------------------------------
# Where the keys come from


def test_environment_keys_sign_and_the_call_works(ctl):
    p = ok(ctl.run("-o", "json", "list", env=key_env(ADMIN)))
    assert "Endpoints" in json.loads(p.stdout)


def test_session_token_from_the_environment_is_signed_and_the_call_works(ctl):
    env = dict(key_env(ADMIN), AWS_SESSION_TOKEN="FwoGZXIvYXdzEtemporary+token/==")
    ok(ctl.run("list", env=env))


def test_default_profile_of_home_aws_credentials_signs(ctl, home):
    write_private(home / ".aws" / "credentials", profile_text("default", ADMIN))
    ok(ctl.run("list"))


def test_aws_profile_picks_a_profile_of_aws_shared_credentials_file(ctl, home, tmp_path):
    other = tmp_path / "elsewhere"
    write_private(other, profile_text("default", READER) + profile_text("ops", ADMIN))
    ok(ctl.run("list", env={"AWS_SHARED_CREDENTIALS_FILE": str(other), "AWS_PROFILE": "ops"}))


def test_profile_option_beats_environment_keys(ctl, home):
    write_private(home / ".aws" / "credentials", profile_text("ops", ADMIN))
    bad = Key("x", ADMIN.id, "not-the-secret")
    ok(ctl.run("--profile", "ops", "list", env=key_env(bad)))
    # As a command's option too.
    ok(ctl.run("list", "--profile", "ops", env=key_env(bad)))


def test_profile_of_the_config_file_signs(ctl, home):
    write_private(home / ".aws" / "config", "[profile cfg]\n" +
                  profile_text("x", ADMIN).split("\n", 1)[1] + "region = us-east-1\n")
    ok(ctl.run("--profile", "cfg", "list"))


def test_unknown_profile_is_a_clear_error_and_nothing_is_sent(ctl, home):
    write_private(home / ".aws" / "credentials", profile_text("default", ADMIN))
    p = refused(ctl.run("--profile", "nope", "list"),
                "endpointctl: The config profile (nope) could not be found")
    assert p.stdout == ""


def test_broken_credentials_file_says_where(ctl, home):
    path = home / ".aws" / "credentials"
    write_private(path, "[default]\naws_access_key_id AKID\n")
    refused(ctl.run("list"),
            f"endpointctl: {path}:2: 'aws_access_key_id AKID' is neither [SECTION], "
            "NAME = VALUE nor a comment")


def test_no_credentials_anywhere_goes_unsigned_and_says_so(ctl):
    p = refused(ctl.run("list"), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a "
                "profile of ~/.aws/credentials with --profile)")
    assert p.stderr.startswith("endpointctl: MissingAuthenticationTokenException: "), show(p)


# ---------------------------------------------------------------------------
# What the daemon answers


def test_wrong_secret_prints_invalid_signature(ctl):
    bad = Key("x", ADMIN.id, ADMIN.secret[:-1] + "X")
    refused(ctl.run("list", env=key_env(bad)),
            f"endpointctl: InvalidSignatureException: {BAD_SIGNATURE}")


def test_unknown_key_prints_unrecognized_client(ctl):
    refused(ctl.run("list", env=key_env(Key("x", "AKIDNOBODY0000000001", "s"))),
            "endpointctl: UnrecognizedClientException: "
            "The security token included in the request is invalid.")


def test_describe_only_key_describes_but_cannot_create(ctl, in_service):
    p = ok(ctl.run("-o", "json", "describe", in_service, env=key_env(READER)))
    assert json.loads(p.stdout)["EndpointStatus"] == "InService"
    name = f"team-a-{SESSION_PREFIX}-denied"
    refused(ctl.run("create", name, "--config", "demo-config", env=key_env(READER)),
            f"endpointctl: AccessDeniedException: User: reader is not authorized to perform: "
            f"sagemaker:CreateEndpoint on resource: {arn(name)}")


def test_region_not_the_daemon_s_prints_its_error(ctl):
    p = refused(ctl.run("list", env=dict(key_env(ADMIN), AWS_REGION="eu-west-1")),
                "endpointctl: InvalidSignatureException: Credential should be scoped to a valid "
                "region, not 'eu-west-1'. ")  # AWS's words end in a space
    # --region beats the environment.
    ok(ctl.run("--region", REGION, "list", env=dict(key_env(ADMIN), AWS_REGION="eu-west-1")))
    assert p.stdout == ""


def test_region_that_is_not_one_is_refused_before_sending(ctl):
    refused(ctl.run("--region", "us-east-1/x", "list", env=key_env(ADMIN)),
            "endpointctl: Provided region_name 'us-east-1/x' doesn't match a supported format.")


# ---------------------------------------------------------------------------
# Invoke and metrics, signed


def test_invoke_is_signed_with_its_body(ctl, in_service):
    body = bytes(range(256)) * 300
    p = ctl.run("invoke", in_service, "--content-type", OCTET, "--accept", OCTET,
                "--custom-attributes", "trace=1", env=key_env(PIPELINE), input=body)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stdout == body


def test_invoke_outside_the_key_s_endpoints_is_access_denied(ctl, in_service):
    other = f"team-b-{SESSION_PREFIX}-x"
    p = ctl.run("invoke", other, env=key_env(PIPELINE), input=b"x")
    assert p.returncode == 1
    assert p.stderr.decode().startswith("endpointctl: AccessDeniedException: User: pipeline is "
                                        "not authorized to perform: sagemaker:InvokeEndpoint"), \
        p.stderr


def test_invoke_with_a_wrong_secret_is_an_invalid_signature(ctl, in_service):
    p = ctl.run("invoke", in_service, env=key_env(Key("x", PIPELINE.id, "nope")), input=b"x")
    assert p.returncode == 1
    assert p.stderr.decode() == f"endpointctl: InvalidSignatureException: {BAD_SIGNATURE}\n"


def test_header_value_that_would_split_a_header_is_refused(ctl, in_service):
    p = ctl.run("invoke", in_service, "--custom-attributes", "a\r\nX-Injected: 1",
                env=key_env(PIPELINE), input=b"x")
    assert p.returncode == 1
    assert b"the X-Amzn-SageMaker-Custom-Attributes header cannot carry" in p.stderr, p.stderr


def test_metrics_are_signed(ctl):
    p = ok(ctl.run("metrics", env=key_env(ADMIN)))
    assert "# TYPE" in p.stdout
    refused(ctl.run("metrics", env=key_env(PIPELINE)),
            "endpointctl: AccessDeniedException: User: pipeline is not authorized to perform: "
            f"sagemaker:DescribeEndpoint on resource: arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/*")


def test_requests_signed_over_a_unix_socket_verify(ctl, auth_daemon):
    relay = UnixRelay("127.0.0.1", auth_daemon.port)
    try:
        ok(ctl.run("list", env=key_env(ADMIN), url=f"unix:{relay.path}"))
        refused(ctl.run("list", env=key_env(Key("x", ADMIN.id, "nope")), url=f"unix:{relay.path}"),
                f"endpointctl: InvalidSignatureException: {BAD_SIGNATURE}")
    finally:
        relay.close()


def test_daemon_without_keys_takes_signed_requests(endpointctl_bin, daemon, home):
    plain = SignedCtl(endpointctl_bin, f"http://127.0.0.1:{daemon.port}", home)
    ok(plain.run("list", env=key_env(ADMIN)))
    ok(plain.run("metrics", env=key_env(ADMIN)))


# ---------------------------------------------------------------------------
# https and --ca-bundle (against a canned server: the daemon's TLS is tested
# on its own)


def openssl(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)
    return d / f"{name}.pem"


class CannedServer:
    """https on 127.0.0.1 answering every POST / with ListEndpoints' empty page."""

    def __init__(self, cert, key):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen.append((dict(self.headers), body))
                answer = b'{"Endpoints": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    if not os.access(OPENSSL, os.X_OK):
        pytest.skip(f"no {OPENSSL}")
    d = tmp_path_factory.mktemp("tls")
    ca = make_ca(d, "test-ca")
    other_ca = make_ca(d, "other-ca")
    (d / "san.cnf").write_text("subjectAltName = DNS:localhost, IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "test-ca.pem", "-CAkey", "test-ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem", cwd=d)
    server = CannedServer(str(d / "server.pem"), str(d / "server.key"))
    yield types_namespace(ca=ca, other_ca=other_ca, server=server,
                          url=f"https://localhost:{server.port}")
    server.close()


def types_namespace(**kw):
    import types
    return types.SimpleNamespace(**kw)


@pytest.fixture
def tls_ctl(endpointctl_bin, home, tls):
    return SignedCtl(endpointctl_bin, tls.url, home)


def test_ca_bundle_option_verifies_the_server_and_the_request_goes_signed(tls_ctl, tls):
    before = len(tls.server.seen)
    p = ok(tls_ctl.run("--ca-bundle", str(tls.ca), "-o", "json", "list", env=key_env(ADMIN)))
    assert json.loads(p.stdout) == {"Endpoints": []}
    headers, body = tls.server.seen[before]
    auth = headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={ADMIN.id}/"), auth
    assert f"/{REGION}/sagemaker/aws4_request, SignedHeaders=content-type;host;x-amz-date;" \
           "x-amz-target, Signature=" in auth, auth
    assert headers["Host"] == f"localhost:{tls.server.port}"


def test_aws_ca_bundle_is_the_default_bundle(tls_ctl, tls):
    ok(tls_ctl.run("list", env={"AWS_CA_BUNDLE": str(tls.ca)}))


def test_profile_ca_bundle_is_used(tls_ctl, tls, home):
    write_private(home / ".aws" / "config", f"[default]\nca_bundle = {tls.ca}\n")
    ok(tls_ctl.run("list"))


def test_server_not_from_a_trusted_ca_is_refused_with_a_clear_line(tls_ctl, tls):
    p = refused(tls_ctl.run("list"), "")
    assert p.stderr.startswith(f"endpointctl: cannot trust endpointd at {tls.url}: its TLS "
                               "certificate does not verify against the system's CAs: "), show(p)
    p = refused(tls_ctl.run("--ca-bundle", str(tls.other_ca), "list"), "")
    assert p.stderr.startswith(f"endpointctl: cannot trust endpointd at {tls.url}: its TLS "
                               f"certificate does not verify against {tls.other_ca}: "), show(p)


def test_ca_bundle_that_cannot_be_read_is_said(tls_ctl, tls, tmp_path):
    missing = tmp_path / "missing.pem"
    p = refused(tls_ctl.run("--ca-bundle", str(missing), "list"), "")
    assert p.stderr.startswith(f"endpointctl: cannot use the CA bundle {missing}: "), show(p)
