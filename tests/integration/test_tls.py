"""TLS listeners: real clients over https, hostile ones, and certificate
reloads.

A test CA and its server certificates (subjectAltName IP:127.0.0.1 and
DNS:localhost) are made here with `openssl` in a temporary directory.  Each
daemon of this module listens twice: plain HTTP on the harness's port (which
also tells when it is up) and TLS on a second port.

Map of this file:
  - boto3 (verify=<CA>): the control plane and InvokeEndpoint over TLS with
    auth off, and with auth on (a signed call, a wrong secret); without the
    CA it refuses the certificate
  - the AWS CLI with --ca-bundle (list-endpoints, invoke-endpoint), and
    without it
  - endpointctl with --ca-bundle, and without it
  - the AWS SDK for JavaScript with its own https.Agent: tests/js/tls.test.js
  - /metrics over TLS; a plain and a TLS listener side by side; a body over
    the limit refused, its answer read before the close
  - hostile clients: plain HTTP to the TLS port, a TLS 1.1 client, garbage,
    a client that sends nothing, one that stops mid-handshake: each closed,
    the daemon unharmed
  - SIGHUP: a renewed certificate for new connections while an open one goes
    on, a broken one refused (the old one stays), new files named by the
    new config
  - socket activation: a passed socket bound to a TLS entry's address gets
    its TLS, another stays plain
  - start: a missing key, a key of another certificate: the daemon exits
    naming the file (and --check-config says so too)
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from endpointd_harness import (ACCOUNT, REGION, SESSION_PREFIX, ApiClient, AuthDaemon, daemon_env, docker_yaml,
                               js_modules, free_port, wait_until, write_config)

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
AWS = "/usr/bin/aws"
NODE = "/usr/bin/node"
JS_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "js"))
OCTET = "application/octet-stream"
# The daemons' head timeout (limits: request_timeout_s), which bounds a
# handshake too.
HEAD_TIMEOUT_S = 2

ADMIN_ID = "AKIDTLSADMIN00000001"
ADMIN_SECRET = "tls/Admin+Secret000000000000000000000001"
CREDENTIALS = f"""keys:
  - name: admin
    access_key_id: {ADMIN_ID}
    secret_access_key: "{ADMIN_SECRET}"
    allow:
      - actions: ["sagemaker:*"]
        resources: ["*"]
"""

pytestmark = pytest.mark.skipif(not os.access(OPENSSL, os.X_OK),
                                reason="no openssl to make the test CA (apt-get install openssl)")


# ---------------------------------------------------------------------------
# The test CA


class Pki:
    """A CA in a directory of its own, and the server certificates it issues."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.ca = self.path("ca.crt")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                      "-subj", "/CN=endpointd test CA",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(self.path("server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid,issuer\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        p = subprocess.run([OPENSSL, *args], cwd=self.dir, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"

    def issue(self, name, serial, key=None):
        """name.crt for 127.0.0.1 and localhost with serial, from key (a new
        name.key unless given); returns (certificate, key) paths."""
        if key is None:
            key = self.path(f"{name}.key")
            self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-out", key)
        self._openssl("req", "-new", "-key", key, "-subj", "/CN=localhost", "-out", f"{name}.csr")
        self._openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                      "-set_serial", str(serial), "-days", "2", "-extfile", "server.ext",
                      "-out", f"{name}.crt")
        return self.path(f"{name}.crt"), key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def trusting(pki):
    return ssl.create_default_context(cafile=pki.ca)


# ---------------------------------------------------------------------------
# Daemons with a TLS listener


class TLSDaemon(AuthDaemon):
    """A daemon listening on 127.0.0.1:port (plain HTTP) and on
    127.0.0.1:tls_port with TLS from certificate and key; up once the plain
    listener answers at all (auth may refuse)."""

    def __init__(self, *args, certificate, key, **kwargs):
        super().__init__(*args, **kwargs)
        self.certificate = certificate
        self.key = key
        self.tls_port = None

    def listen_yaml(self):
        return "\n".join([
            "listen:",
            f"  - {json.dumps(f'127.0.0.1:{self.port}')}",
            f"  - address: {json.dumps(f'127.0.0.1:{self.tls_port}')}",
            f"    tls: {{ certificate: {json.dumps(self.certificate)}, key: {json.dumps(self.key)} }}",
        ])

    def write_listen(self):
        """The config's listen: as listen_yaml() says now."""
        with open(self.config_path) as f:
            lines = f.read().split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith("listen:"))
        end = start + 1
        while end < len(lines) and lines[end].startswith("  "):
            end += 1
        lines[start:end] = [self.listen_yaml()]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines))

    def start(self, attempts=3):
        for _ in range(attempts):
            self.port, self.tls_port = free_port(), free_port()
            if self.config_path:
                shutil.rmtree(os.path.join(self.workdir, "conf.d"), ignore_errors=True)
            self.config_path = write_config(self.workdir, self.port, self.docker_sock,
                                            self.demo_image, self.extra_config,
                                            docker_mode=self.docker_mode)
            self.write_listen()
            err = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen([self.binary, "--config", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         env=daemon_env(self.docker_sock))
            err.close()
            if self._wait_ready(20):
                return
            if self.proc.poll() is None:
                break
        raise RuntimeError(f"endpointd did not come up (exit status {self.proc.poll()}); "
                           f"its stderr:\n{self.log_tail(0)}")

    def reload(self, expect):
        """SIGHUP, then wait for a log line containing expect; returns the log since."""
        since = self.log_size()
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: expect in self.log_tail(since), 10, what=f"'{expect}' in the log")
        return self.log_tail(since)

    def https(self, pki, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.tls_port, context=trusting(pki),
                                           timeout=timeout)


def _start(endpointd_bin, docker_sock, demo_image, pki, name, serial, extra_config=(),
           credentials=False):
    certificate, key = pki.issue(name, serial)
    d = TLSDaemon(endpointd_bin, docker_sock, demo_image, certificate=certificate, key=key)
    extra = [f"limits: {{ max_endpoints: 100, request_timeout_s: {HEAD_TIMEOUT_S} }}",
             *extra_config]
    if credentials:
        creds = d.write_credentials(CREDENTIALS)
        extra += ["auth:", f"  credentials: {json.dumps(creds)}"]
    d.extra_config = tuple(extra)
    try:
        d.start()
    except RuntimeError as e:
        shutil.rmtree(d.workdir, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    return d


def _stop(d):
    err = d.stop()
    if not os.environ.get("ENDPOINTD_TEST_KEEP"):
        shutil.rmtree(d.workdir, ignore_errors=True)
    return err


def boto(service, d, verify, key_id="test", secret="test"):
    session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                    region_name=REGION)
    return session.client(service, endpoint_url=f"https://127.0.0.1:{d.tls_port}", verify=verify,
                          config=botocore_config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                                        read_timeout=30, connect_timeout=5))


def _in_service(d, pki, name, **key):
    sm = boto("sagemaker", d, pki.ca, **key)
    sm.create_endpoint(EndpointName=name, EndpointConfigName="demo-config")
    wait_until(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService",
               90, interval=0.2, what=f"{name} InService")
    return name


def _delete(d, pki, name, **key):
    sm = boto("sagemaker", d, pki.ca, **key)
    try:
        sm.delete_endpoint(EndpointName=name)
    except botocore_exceptions.ClientError:
        return

    def gone():
        try:
            sm.describe_endpoint(EndpointName=name)
            return False
        except botocore_exceptions.ClientError:
            return True
    wait_until(gone, 60, what=f"{name} deleted")


@pytest.fixture(scope="module")
def open_daemon(endpointd_bin, docker_sock, demo_image, docker, pki, clean_env):
    """No credentials: every request is served unsigned."""
    d = _start(endpointd_bin, docker_sock, demo_image, pki, "open", 0x1001)
    yield d
    err = _stop(d)
    if err:
        pytest.fail(f"teardown: {err}", pytrace=False)


@pytest.fixture(scope="module")
def open_endpoint(open_daemon, pki):
    name = _in_service(open_daemon, pki, f"{SESSION_PREFIX}-tls-open")
    yield name
    _delete(open_daemon, pki, name)


ADMIN = {"key_id": ADMIN_ID, "secret": ADMIN_SECRET}


@pytest.fixture(scope="module")
def auth_daemon(endpointd_bin, docker_sock, demo_image, docker, pki, clean_env):
    """Credentials: requests must be signed, over TLS as over plain HTTP."""
    d = _start(endpointd_bin, docker_sock, demo_image, pki, "auth", 0x1002, credentials=True)
    yield d
    err = _stop(d)
    if err:
        pytest.fail(f"teardown: {err}", pytrace=False)


@pytest.fixture(scope="module")
def auth_endpoint(auth_daemon, pki):
    name = _in_service(auth_daemon, pki, f"{SESSION_PREFIX}-tls-auth", **ADMIN)
    yield name
    _delete(auth_daemon, pki, name, **ADMIN)


@pytest.fixture
def reload_daemon(endpointd_bin, docker_sock, demo_image, docker, pki):
    """A daemon of the test's own, whose certificate the test changes."""
    d = _start(endpointd_bin, docker_sock, demo_image, pki, f"reload-{secrets_hex()}", 0x1001)
    yield d
    err = _stop(d)
    if err:
        pytest.fail(f"teardown: {err}", pytrace=False)


def secrets_hex():
    return os.urandom(3).hex()


def get(conn, path="/metrics"):
    """A GET on an open connection: (status, body)."""
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def list_endpoints(conn):
    conn.request("POST", "/", body=b"{}", headers={
        "X-Amz-Target": "SageMaker.ListEndpoints", "Content-Type": "application/x-amz-json-1.1"})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def serial_of(conn):
    return conn.sock.getpeercert()["serialNumber"]


# ---------------------------------------------------------------------------
# boto3


def test_boto3_runs_the_control_plane_and_invokes_over_tls(open_daemon, open_endpoint, pki):
    sm = boto("sagemaker", open_daemon, pki.ca)
    names = [e["EndpointName"] for e in sm.list_endpoints(NameContains=open_endpoint)["Endpoints"]]
    assert names == [open_endpoint]
    assert sm.describe_endpoint(EndpointName=open_endpoint)["EndpointStatus"] == "InService"
    runtime = boto("sagemaker-runtime", open_daemon, pki.ca)
    r = runtime.invoke_endpoint(EndpointName=open_endpoint, Body=b"over tls", ContentType=OCTET,
                                Accept=OCTET)
    assert r["Body"].read() == b"over tls"


def test_boto3_signed_calls_over_tls_are_checked(auth_daemon, auth_endpoint, pki):
    sm = boto("sagemaker", auth_daemon, pki.ca, **ADMIN)
    assert sm.describe_endpoint(EndpointName=auth_endpoint)["EndpointStatus"] == "InService"
    runtime = boto("sagemaker-runtime", auth_daemon, pki.ca, **ADMIN)
    body = os.urandom(300000)
    r = runtime.invoke_endpoint(EndpointName=auth_endpoint, Body=body, ContentType=OCTET,
                                Accept=OCTET)
    assert r["Body"].read() == body
    wrong = boto("sagemaker", auth_daemon, pki.ca, key_id=ADMIN_ID, secret="wrong")
    with pytest.raises(botocore_exceptions.ClientError) as e:
        wrong.describe_endpoint(EndpointName=auth_endpoint)
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_boto3_without_the_ca_refuses_the_certificate(open_daemon, pki):
    sm = boto("sagemaker", open_daemon, True)
    with pytest.raises(botocore_exceptions.SSLError):
        sm.list_endpoints()


# ---------------------------------------------------------------------------
# The AWS CLI

needs_cli = pytest.mark.skipif(not os.access(AWS, os.X_OK), reason=f"{AWS} is not installed")


def aws(d, *args, ca=None):
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": ADMIN_ID, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET})
    env.pop("AWS_CA_BUNDLE", None)
    cmd = [AWS, "--endpoint-url", f"https://127.0.0.1:{d.tls_port}", "--output", "json",
           "--no-cli-pager", *(["--ca-bundle", ca] if ca else []), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


@needs_cli
def test_aws_cli_with_the_ca_bundle_lists_and_invokes(auth_daemon, auth_endpoint, pki, tmp_path):
    p = aws(auth_daemon, "sagemaker", "list-endpoints", ca=pki.ca)
    assert p.returncode == 0, p.stderr
    assert auth_endpoint in [e["EndpointName"] for e in json.loads(p.stdout)["Endpoints"]]
    (tmp_path / "in.bin").write_bytes(b"cli over tls")
    out = tmp_path / "out.bin"
    p = aws(auth_daemon, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", auth_endpoint,
            "--body", f"fileb://{tmp_path / 'in.bin'}", "--content-type", OCTET, "--accept", OCTET,
            str(out), ca=pki.ca)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == b"cli over tls"


@needs_cli
def test_aws_cli_without_the_ca_bundle_refuses_the_certificate(auth_daemon, pki):
    p = aws(auth_daemon, "sagemaker", "list-endpoints")
    assert p.returncode != 0
    assert "SSL validation failed" in p.stderr and "CERTIFICATE_VERIFY_FAILED" in p.stderr, p.stderr


# ---------------------------------------------------------------------------
# endpointctl


def endpointctl(d, *args, ca=None, stdin=b""):
    binary = os.environ.get("ENDPOINTCTL_BIN")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip("no ENDPOINTCTL_BIN")
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": ADMIN_ID, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET})
    for k in ("AWS_CA_BUNDLE", "AWS_PROFILE", "ENDPOINTD_URL"):
        env.pop(k, None)
    cmd = [binary, "--url", f"https://127.0.0.1:{d.tls_port}", "--region", REGION,
           *(["--ca-bundle", ca] if ca else []), *args]
    return subprocess.run(cmd, env=env, input=stdin, capture_output=True, timeout=60)


def test_endpointctl_with_the_ca_bundle_signs_lists_and_invokes(auth_daemon, auth_endpoint, pki):
    p = endpointctl(auth_daemon, "-o", "json", "list", "--name-contains", auth_endpoint, ca=pki.ca)
    assert p.returncode == 0, p.stderr
    assert auth_endpoint.encode() in p.stdout
    p = endpointctl(auth_daemon, "invoke", auth_endpoint, "--accept", OCTET, ca=pki.ca,
                    stdin=b"ctl over tls")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"ctl over tls"


def test_endpointctl_without_the_ca_bundle_refuses_the_certificate(auth_daemon, pki):
    p = endpointctl(auth_daemon, "list")
    assert p.returncode != 0
    assert b"certificate" in p.stderr.lower(), p.stderr


# ---------------------------------------------------------------------------
# The AWS SDK for JavaScript v3


def test_js_sdk_with_its_own_agent_works_over_tls(auth_daemon, auth_endpoint, pki, tmp_path,
                                                  aws_env):
    if not os.access(NODE, os.X_OK):
        pytest.skip(f"{NODE} is not installed")
    modules = js_modules()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NODE_"))}
    env.update(aws_env)
    env.update({
        "NODE_PATH": modules,
        "ENDPOINT_URL": f"https://127.0.0.1:{auth_daemon.tls_port}",
        "ENDPOINTD_JS_PREFIX": f"{SESSION_PREFIX}-jstls",
        "ENDPOINTD_ACCOUNT": ACCOUNT,
        "ENDPOINTD_REGION": REGION,
        "ENDPOINTD_TLS_CA": pki.ca,
        "ENDPOINTD_TLS_ENDPOINT": auth_endpoint,
        "ENDPOINTD_TLS_CREDENTIALS": json.dumps({"accessKeyId": ADMIN_ID,
                                                 "secretAccessKey": ADMIN_SECRET}),
    })
    cmd = [NODE, "--test", "--test-reporter=spec", os.path.join(JS_DIR, "tls.test.js")]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=240)
    assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "skipped 0" in p.stdout, p.stdout  # run, not skipped


# ---------------------------------------------------------------------------
# /metrics, and a plain listener beside a TLS one


def test_metrics_answer_over_tls(open_daemon, pki):
    conn = open_daemon.https(pki)
    status, body = get(conn, "/metrics")
    conn.close()
    assert status == 200
    assert b"endpointd_endpoints" in body


def test_a_plain_and_a_tls_listener_serve_side_by_side(open_daemon, pki):
    plain = ApiClient("127.0.0.1", open_daemon.port).call("ListEndpoints", {})
    assert plain.status == 200
    conn = open_daemon.https(pki)
    status, body = list_endpoints(conn)
    conn.close()
    assert status == 200 and body == plain.json
    # and each speaks only its own protocol
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", open_daemon.port), timeout=5) as s:
            with trusting(pki).wrap_socket(s, server_hostname="127.0.0.1"):
                pass


def test_a_body_over_the_limit_is_refused_over_tls_and_the_answer_arrives(open_daemon, pki):
    """The refusal closes with a lingering close (close_notify, then the FIN,
    then what the client still sends dropped): the client reads the whole
    answer while it is still sending."""
    with socket.create_connection(("127.0.0.1", open_daemon.tls_port), timeout=10) as raw:
        with trusting(pki).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"POST /endpoints/nobody/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/octet-stream\r\n"
                      b"Content-Length: 7000000\r\n\r\n")
            try:
                s.sendall(b"x" * 65536)
            except (ssl.SSLError, OSError):
                pass
            answer = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not chunk:
                    break
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer
    assert b"Connection: close" in head
    assert json.loads(body)["ErrorCode"] == "ValidationError", body
    assert still_serves(open_daemon, pki)


# ---------------------------------------------------------------------------
# Hostile clients


def closed_within(s, seconds):
    """Whether the server closes s (EOF or a reset) within seconds, dropping what it sends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if s.recv(4096) == b"":
                return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
    return False


def still_serves(d, pki):
    conn = d.https(pki)
    status, _ = get(conn)
    conn.close()
    return status == 200 and d.proc.poll() is None


def test_plain_http_sent_to_the_tls_port_is_closed_without_an_answer(open_daemon, pki):
    with socket.create_connection(("127.0.0.1", open_daemon.tls_port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert closed_within(s, 5)
    assert still_serves(open_daemon, pki)


def test_a_tls_1_1_client_is_refused_with_a_protocol_version_alert(open_daemon, pki):
    ctx = trusting(pki)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that the client offers TLS 1.1 at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is, indeed
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", open_daemon.tls_port), timeout=5) as s:
        with pytest.raises(ssl.SSLError) as e:
            ctx.wrap_socket(s, server_hostname="127.0.0.1")
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value
    assert still_serves(open_daemon, pki)


def test_garbage_sent_to_the_tls_port_is_closed(open_daemon, pki):
    with socket.create_connection(("127.0.0.1", open_daemon.tls_port), timeout=5) as s:
        s.sendall(os.urandom(2048))
        assert closed_within(s, 5)
    assert still_serves(open_daemon, pki)


def test_a_client_that_connects_and_sends_nothing_is_closed_at_the_head_timeout(open_daemon, pki):
    with socket.create_connection(("127.0.0.1", open_daemon.tls_port), timeout=5) as s:
        t0 = time.monotonic()
        assert closed_within(s, HEAD_TIMEOUT_S + 3)
        assert time.monotonic() - t0 >= HEAD_TIMEOUT_S - 0.5
    assert still_serves(open_daemon, pki)


def test_a_client_that_stops_mid_handshake_is_closed_at_the_head_timeout(open_daemon, pki):
    # The first bytes of a ClientHello, and then nothing.
    with socket.create_connection(("127.0.0.1", open_daemon.tls_port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert closed_within(s, HEAD_TIMEOUT_S + 3)
    assert still_serves(open_daemon, pki)


def test_a_client_that_handshakes_and_sends_nothing_is_closed_at_the_head_timeout(open_daemon,
                                                                                   pki):
    with socket.create_connection(("127.0.0.1", open_daemon.tls_port), timeout=5) as raw:
        with trusting(pki).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            deadline = time.monotonic() + HEAD_TIMEOUT_S + 3
            closed = False
            while not closed and time.monotonic() < deadline:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    closed = s.recv(4096) == b""
                except (ssl.SSLError, ConnectionResetError):
                    closed = True
                except socket.timeout:
                    break
            assert closed
    assert still_serves(open_daemon, pki)


# ---------------------------------------------------------------------------
# SIGHUP


def test_sighup_serves_a_renewed_certificate_to_new_connections_and_keeps_open_ones(reload_daemon,
                                                                                    pki):
    d = reload_daemon
    kept = d.https(pki)
    assert get(kept)[0] == 200
    assert serial_of(kept) == "1001"
    # Renewed in place, with a new key, as certbot and the like do.
    name = os.path.splitext(os.path.basename(d.certificate))[0]
    pki.issue(name, 0x2002)
    d.reload(f"certificate reloaded from {d.certificate}")
    assert get(kept)[0] == 200, "a connection made before the reload goes on"
    assert serial_of(kept) == "1001"
    kept.close()
    fresh = d.https(pki)
    assert get(fresh)[0] == 200
    assert serial_of(fresh) == "2002"
    fresh.close()


def test_sighup_with_a_broken_certificate_keeps_the_running_one(reload_daemon, pki):
    d = reload_daemon
    with open(d.certificate, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n")
    log = d.reload("the certificate was not reloaded")
    assert d.certificate in log, log
    conn = d.https(pki)
    assert get(conn)[0] == 200
    assert serial_of(conn) == "1001"
    conn.close()


def test_sighup_takes_the_files_the_new_config_names(reload_daemon, pki):
    d = reload_daemon
    d.certificate, d.key = pki.issue(f"renamed-{secrets_hex()}", 0x3003)
    d.write_listen()
    d.reload(f"certificate reloaded from {d.certificate}")
    conn = d.https(pki)
    assert get(conn)[0] == 200
    assert serial_of(conn) == "3003"
    conn.close()


# ---------------------------------------------------------------------------
# Socket activation


def test_a_passed_socket_bound_to_a_tls_address_gets_its_tls(endpointd_bin, docker_sock, pki,
                                                              tmp_path):
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("no systemd-socket-activate (apt-get install systemd)")
    certificate, key = pki.issue(f"activated-{secrets_hex()}", 0x5005)
    tls_port, plain_port = free_port(), free_port()
    path = tmp_path / "endpointd.yaml"
    path.write_text("\n".join([
        "listen:",
        f"  - address: \"127.0.0.1:{tls_port}\"",
        f"    tls: {{ certificate: {json.dumps(certificate)}, key: {json.dumps(key)} }}",
        f"state_dir: {json.dumps(str(tmp_path / 'state'))}",
        docker_yaml(docker_sock),
    ]) + "\n")
    log = tmp_path / "stderr"
    with open(log, "wb") as err:
        proc = subprocess.Popen([tool, "-l", f"127.0.0.1:{tls_port}", "-l", f"127.0.0.1:{plain_port}",
                                 endpointd_bin, "--config", str(path)],
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                env=daemon_env(docker_sock))
    try:
        conn = None

        def serves_tls():
            nonlocal conn
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", tls_port, context=trusting(pki),
                                                   timeout=10)
                return get(conn)[0] == 200
            except OSError:
                return False
        wait_until(serves_tls, 20, what="the passed TLS socket served")
        assert serial_of(conn) == "5005"
        conn.close()
        plain = ApiClient("127.0.0.1", plain_port).call("ListEndpoints", {})
        assert plain.status == 200, "the other passed socket stays plain HTTP"
        assert f"as 127.0.0.1:{tls_port} (TLS)" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    assert rc == 0, log.read_text()


# ---------------------------------------------------------------------------
# Start


def _start_fails(endpointd_bin, docker_sock, tmp_path, certificate, key, *args):
    port = free_port()
    path = tmp_path / "endpointd.yaml"
    path.write_text("\n".join([
        "listen:",
        f"  - address: \"127.0.0.1:{port}\"",
        f"    tls: {{ certificate: {json.dumps(certificate)}, key: {json.dumps(key)} }}",
        f"state_dir: {json.dumps(str(tmp_path / 'state'))}",
        docker_yaml(docker_sock),
    ]) + "\n")
    try:
        p = subprocess.run([endpointd_bin, *args, "--config", str(path)], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=15, env=daemon_env(docker_sock))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"endpointd started with a bad certificate; stderr: {e.stderr!r}")
    assert p.returncode != 0, p.stderr
    assert f"{path}:3:10: cannot listen on 127.0.0.1:{port} with TLS" in p.stderr, p.stderr
    return p.stderr


def test_start_with_a_missing_key_exits_naming_the_file(endpointd_bin, docker_sock, pki, tmp_path):
    certificate, _ = pki.issue("start-missing", 0x4004)
    key = str(tmp_path / "nonexistent.key")
    stderr = _start_fails(endpointd_bin, docker_sock, tmp_path, certificate, key)
    assert f"TLS key {key}: No such file or directory" in stderr, stderr


def test_start_with_the_key_of_another_certificate_exits_naming_both(endpointd_bin, docker_sock,
                                                                     pki, tmp_path):
    certificate, _ = pki.issue("start-one", 0x4005)
    _, other = pki.issue("start-other", 0x4006)
    stderr = _start_fails(endpointd_bin, docker_sock, tmp_path, certificate, other)
    assert f"TLS key {other} does not match the certificate {certificate}" in stderr, stderr


def test_check_config_loads_the_certificate(endpointd_bin, docker_sock, pki, tmp_path):
    certificate, _ = pki.issue("check-one", 0x4007)
    _, other = pki.issue("check-other", 0x4008)
    stderr = _start_fails(endpointd_bin, docker_sock, tmp_path, certificate, other, "--check-config")
    assert "does not match" in stderr, stderr
