"""Signed requests: every real client's signer against a daemon with keys.

A daemon of this module's own reads a credentials file written here (mode
0600) with four keys:
  - admin:      sagemaker:* on everything
  - pipeline-a: sagemaker:InvokeEndpoint on endpoint/team-a-* only
  - reader:     sagemaker:Describe* on everything
  - upper:      sagemaker:InvokeEndpoint on endpoint/Team-A-* (names are
                unique case-insensitively; ARN patterns are not)
and keeps /metrics closed; a second one, with no endpoint, keeps it open.

Map of this file:
  - boto3 (sagemaker, sagemaker-runtime): right key, wrong secret, unknown
    key, no signature, a header, the body or the query changed after
    signing, a signed header removed, presigned URLs and expired ones
  - policies: the pipeline key, the reader key, a name spelt in another
    case, a body that is not JSON, /metrics closed and open
  - a head without any signature is refused before its body is sent
  - the AWS CLI: right key, wrong key, a clock 20 minutes behind (faketime)
  - the AWS SDK for JavaScript v3: tests/js/auth.test.js against this daemon
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse

import pytest

from endpointd_harness import ACCOUNT, REGION, SESSION_PREFIX, ApiClient, AuthDaemon, js_modules, wait_until

boto3 = pytest.importorskip("boto3")
botocore_auth = pytest.importorskip("botocore.auth")
botocore_awsrequest = pytest.importorskip("botocore.awsrequest")
botocore_config = pytest.importorskip("botocore.config")
botocore_credentials = pytest.importorskip("botocore.credentials")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

OCTET = "application/octet-stream"
AWS = "/usr/bin/aws"
FAKETIME = "/usr/bin/faketime"
NODE = "/usr/bin/node"
JS_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "js"))

BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                 "Check your AWS Secret Access Key and signing method. Consult the service "
                 "documentation for details.")
UNKNOWN_KEY = "The security token included in the request is invalid."
ACCOUNT_WIDE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:*"


class Key:
    def __init__(self, name, key_id, secret):
        self.name = name
        self.id = key_id
        self.secret = secret


ADMIN = Key("admin", "AKIDADMIN00000000001", "admin/Secret+Key0000000000000000000000001")
PIPELINE = Key("pipeline-a", "AKIDPIPELINEA0000001", "pipeline/Secret+Key00000000000000000002")
READER = Key("reader", "AKIDREADER0000000001", "reader/Secret+Key000000000000000000000003")
UPPER = Key("upper", "AKIDUPPER00000000001", "upper/Secret+Key0000000000000000000000004")
NOBODY = Key("nobody", "AKIDNOBODY0000000001", "nobody/Secret+Key000000000000000000000005")

CREDENTIALS = f"""keys:
  - name: {ADMIN.name}
    access_key_id: {ADMIN.id}
    secret_access_key: "{ADMIN.secret}"
    allow:
      - actions: ["sagemaker:*"]
        resources: ["*"]
  - name: {PIPELINE.name}
    access_key_id: {PIPELINE.id}
    secret_access_key: "{PIPELINE.secret}"
    allow:
      - actions: ["sagemaker:InvokeEndpoint"]
        resources: ["arn:aws:sagemaker:*:*:endpoint/team-a-*"]
  - name: {READER.name}
    access_key_id: {READER.id}
    secret_access_key: "{READER.secret}"
    allow:
      - actions: ["sagemaker:Describe*"]
        resources: ["*"]
  - name: {UPPER.name}
    access_key_id: {UPPER.id}
    secret_access_key: "{UPPER.secret}"
    allow:
      - actions: ["sagemaker:InvokeEndpoint"]
        resources: ["arn:aws:sagemaker:*:*:endpoint/Team-A-*"]
"""

# Endpoint names: unique to this run (the engine is shared), under the
# prefixes the policies name.
TEAM_A = f"team-a-{SESSION_PREFIX}-x"
TEAM_B = f"team-b-{SESSION_PREFIX}-y"


def arn(name):
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"


def denied(key, action, resource):
    return f"User: {key.name} is not authorized to perform: sagemaker:{action} on resource: {resource}"


def _start_daemon(endpointd_bin, docker_sock, demo_image, metrics_open):
    d = AuthDaemon(endpointd_bin, docker_sock, demo_image)
    creds = d.write_credentials(CREDENTIALS)
    d.extra_config = ("auth:", f"  credentials: {json.dumps(creds)}",
                      f"  metrics_open: {'true' if metrics_open else 'false'}")
    try:
        d.start()
    except RuntimeError as e:
        shutil.rmtree(d.workdir, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    return d


def _stop_daemon(d):
    err = d.stop()
    if os.environ.get("ENDPOINTD_TEST_KEEP"):
        print(f"\nkept {d.workdir}")
    else:
        shutil.rmtree(d.workdir, ignore_errors=True)
    return err


@pytest.fixture(scope="module")
def auth_daemon(endpointd_bin, docker_sock, demo_image, docker, clean_env):
    d = _start_daemon(endpointd_bin, docker_sock, demo_image, metrics_open=False)
    yield d
    problems = []
    if d.proc.poll() is None:
        sm = client("sagemaker", d, ADMIN)
        for name in (TEAM_A, TEAM_B):
            try:
                sm.delete_endpoint(EndpointName=name)
            except botocore_exceptions.ClientError:
                pass

            def gone(name=name):
                try:
                    sm.describe_endpoint(EndpointName=name)
                    return False
                except botocore_exceptions.ClientError:
                    return True
            try:
                wait_until(gone, 60, what=f"{name} deleted")
            except AssertionError as e:
                problems.append(str(e))
    err = _stop_daemon(d)
    if err:
        problems.append(err)
    if problems:
        pytest.fail("teardown: " + "; ".join(problems), pytrace=False)


def client(service, d, key, **config):
    session = boto3.session.Session(aws_access_key_id=key.id, aws_secret_access_key=key.secret,
                                    region_name=REGION)
    return session.client(service, endpoint_url=f"http://127.0.0.1:{d.port}",
                          config=botocore_config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                                        read_timeout=30, **config))


@pytest.fixture(scope="module")
def in_service(auth_daemon):
    """TEAM_A, created and InService through the admin key."""
    sm = client("sagemaker", auth_daemon, ADMIN)
    sm.create_endpoint(EndpointName=TEAM_A, EndpointConfigName="demo-config")
    wait_until(lambda: sm.describe_endpoint(EndpointName=TEAM_A)["EndpointStatus"] == "InService",
               90, interval=0.2, what=f"{TEAM_A} InService")
    return TEAM_A


def client_error(call):
    with pytest.raises(botocore_exceptions.ClientError) as e:
        call()
    return e.value


def assert_refused(e, code, message=None, status=403):
    err = e.response["Error"]
    assert err["Code"] == code, e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status, e.response
    if message is not None:
        assert err["Message"] == message, e.response


# ---------------------------------------------------------------------------
# Raw requests: botocore's signers, sent with http.client


def signed(d, key, method, path, body=b"", headers=None):
    """A request signed with key by botocore's SigV4Auth, prepared."""
    req = botocore_awsrequest.AWSRequest(method=method, url=f"http://127.0.0.1:{d.port}{path}",
                                         data=body, headers=headers or {})
    creds = botocore_credentials.Credentials(key.id, key.secret)
    botocore_auth.SigV4Auth(creds, "sagemaker", REGION).add_auth(req)
    return req.prepare()


def send(url, method="POST", body=b"", headers=None):
    """Send to url as it is; (status, headers lower-cased, body)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        target = u.path + (f"?{u.query}" if u.query else "")
        conn.request(method, target, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def send_prepared(p):
    return send(p.url, p.method, p.body or b"", p.headers)


def error_of(status_headers_body):
    """(status, code from x-amzn-ErrorType, message) of an error answer."""
    status, headers, body = status_headers_body
    doc = json.loads(body)
    return status, headers.get("x-amzn-errortype"), doc.get("message", doc.get("Message"))


def control(op, params):
    return json.dumps(params).encode(), {"X-Amz-Target": f"SageMaker.{op}",
                                         "Content-Type": "application/x-amz-json-1.1"}


# ---------------------------------------------------------------------------
# boto3


def test_right_key_creates_describes_and_invokes(auth_daemon, in_service):
    sm = client("sagemaker", auth_daemon, ADMIN)
    assert sm.describe_endpoint(EndpointName=in_service)["EndpointStatus"] == "InService"
    rt = client("sagemaker-runtime", auth_daemon, ADMIN)
    r = rt.invoke_endpoint(EndpointName=in_service, Body=b"signed body", ContentType=OCTET, Accept=OCTET)
    assert r["Body"].read() == b"signed body"


def test_wrong_secret_is_an_invalid_signature(auth_daemon):
    bad = Key(ADMIN.name, ADMIN.id, ADMIN.secret[:-1] + "X")
    e = client_error(lambda: client("sagemaker", auth_daemon, bad).list_endpoints())
    assert_refused(e, "InvalidSignatureException", BAD_SIGNATURE)


def test_wrong_secret_on_the_runtime_is_an_invalid_signature(auth_daemon, in_service):
    bad = Key(PIPELINE.name, PIPELINE.id, "not-the-secret")
    rt = client("sagemaker-runtime", auth_daemon, bad)
    e = client_error(lambda: rt.invoke_endpoint(EndpointName=in_service, Body=b"x"))
    assert_refused(e, "InvalidSignatureException", BAD_SIGNATURE)


def test_unknown_key_is_unrecognized(auth_daemon, in_service):
    e = client_error(lambda: client("sagemaker", auth_daemon, NOBODY).list_endpoints())
    assert_refused(e, "UnrecognizedClientException", UNKNOWN_KEY)
    rt = client("sagemaker-runtime", auth_daemon, NOBODY)
    e = client_error(lambda: rt.invoke_endpoint(EndpointName=in_service, Body=b"x"))
    assert_refused(e, "UnrecognizedClientException", UNKNOWN_KEY)


def test_no_signature_is_a_missing_authentication_token(auth_daemon):
    r = ApiClient("127.0.0.1", auth_daemon.port).call("ListEndpoints", {})
    assert r.status == 403, r
    assert r.error_type == "MissingAuthenticationTokenException", r
    assert r.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException", r
    assert "date" in r.headers, r


def test_no_signature_on_the_runtime_answers_in_the_runtime_shape(auth_daemon, in_service):
    status, headers, body = send(f"http://127.0.0.1:{auth_daemon.port}/endpoints/{in_service}/invocations",
                                 body=b"x", headers={"Content-Type": "text/plain"})
    assert status == 403, body
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert json.loads(body)["ErrorCode"] == "MissingAuthenticationTokenException", body


def _tamper(d, key, edit, service="sagemaker", before_sign=None):
    """A client whose requests edit() changes after they are signed."""
    c = client(service, d, key)
    if before_sign:
        c.meta.events.register("before-sign.*.*", before_sign)

    def hook(request, **kwargs):
        edit(request)
        return None
    c.meta.events.register("before-send.*.*", hook)
    return c


def test_a_header_changed_after_signing_is_refused(auth_daemon, in_service):
    def edit(request):
        request.headers["X-Amz-Target"] = "SageMaker.DeleteEndpoint"
    c = _tamper(auth_daemon, ADMIN, edit)
    e = client_error(lambda: c.describe_endpoint(EndpointName=in_service))
    assert_refused(e, "InvalidSignatureException", BAD_SIGNATURE)
    admin = client("sagemaker", auth_daemon, ADMIN)
    assert admin.describe_endpoint(EndpointName=in_service)["EndpointStatus"] == "InService"


def test_a_body_changed_after_signing_is_refused(auth_daemon, in_service):
    def edit(request):
        request.body = request.body.replace(in_service.encode(), TEAM_B.encode())
    c = _tamper(auth_daemon, ADMIN, edit)
    e = client_error(lambda: c.describe_endpoint(EndpointName=in_service))
    assert_refused(e, "InvalidSignatureException", BAD_SIGNATURE)


def test_a_runtime_body_changed_after_signing_is_refused(auth_daemon, in_service):
    def edit(request):
        request.body = b"tampered"
        request.headers["Content-Length"] = str(len(request.body))
    rt = _tamper(auth_daemon, PIPELINE, edit, service="sagemaker-runtime")
    e = client_error(lambda: rt.invoke_endpoint(EndpointName=in_service, Body=b"original"))
    assert_refused(e, "InvalidSignatureException", BAD_SIGNATURE)


def test_a_query_added_after_signing_is_refused(auth_daemon):
    def edit(request):
        request.url += "?Extra=1"
    c = _tamper(auth_daemon, ADMIN, edit)
    e = client_error(lambda: c.list_endpoints())
    assert_refused(e, "InvalidSignatureException", BAD_SIGNATURE)


def test_a_signed_header_removed_after_signing_is_refused(auth_daemon):
    def add(request, **kwargs):
        request.headers["X-Amz-Meta-Trace"] = "abc"

    def edit(request):
        del request.headers["X-Amz-Meta-Trace"]
    c = _tamper(auth_daemon, ADMIN, edit, before_sign=add)
    e = client_error(lambda: c.list_endpoints())
    err = e.response["Error"]
    assert err["Code"] in ("InvalidSignatureException", "IncompleteSignatureException"), e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403), e.response


def _presigned(d, key, method, path, body=b"", headers=None, expires=60):
    req = botocore_awsrequest.AWSRequest(method=method, url=f"http://127.0.0.1:{d.port}{path}",
                                         data=body, headers=headers or {})
    creds = botocore_credentials.Credentials(key.id, key.secret)
    botocore_auth.SigV4QueryAuth(creds, "sagemaker", REGION, expires=expires).add_auth(req)
    return req.prepare()


def test_a_presigned_invocation_is_accepted(auth_daemon, in_service):
    # The presigner signs an empty body (it would move a JSON body into the query).
    p = _presigned(auth_daemon, PIPELINE, "POST", f"/endpoints/{in_service}/invocations",
                   headers={"Content-Type": "text/plain"})
    assert "X-Amz-Signature=" in p.url and "Authorization" not in p.headers
    status, headers, body = send_prepared(p)
    assert status == 200, body
    assert headers["x-amzn-invoked-production-variant"] == "AllTraffic"


def test_a_presigned_url_from_botocore_reaches_describe_endpoint(auth_daemon, in_service):
    """generate_presigned_url moves the JSON body into the query, which the
    AWS JSON protocol does not read: the signature is good and the operation
    runs, without its EndpointName."""
    sm = client("sagemaker", auth_daemon, ADMIN)
    url = sm.generate_presigned_url("describe_endpoint", Params={"EndpointName": in_service},
                                    ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    r = send(url, headers={"X-Amz-Target": "SageMaker.DescribeEndpoint",
                           "Content-Type": "application/x-amz-json-1.1"})
    status, code, message = error_of(r)
    assert (status, code) == (400, "ValidationException"), r
    assert "endpointName" in message, r


def test_a_presigned_list_endpoints_is_answered(auth_daemon, in_service):
    _, headers = control("ListEndpoints", {})
    p = _presigned(auth_daemon, ADMIN, "POST", "/", headers=headers)
    status, _, body = send_prepared(p)
    assert status == 200, body
    assert in_service in [e["EndpointName"] for e in json.loads(body)["Endpoints"]]


def test_an_expired_presigned_url_is_refused(auth_daemon, in_service):
    p = _presigned(auth_daemon, PIPELINE, "POST", f"/endpoints/{in_service}/invocations", expires=1)
    time.sleep(2.2)
    status, code, message = error_of(send_prepared(p))
    assert status == 403
    assert code in ("AccessDeniedException", "InvalidSignatureException"), (code, message)
    assert "expired" in message, message


# ---------------------------------------------------------------------------
# Policies


def test_a_pipeline_key_invokes_its_own_endpoints(auth_daemon, in_service):
    rt = client("sagemaker-runtime", auth_daemon, PIPELINE)
    r = rt.invoke_endpoint(EndpointName=in_service, Body=b"pipeline", ContentType=OCTET, Accept=OCTET)
    assert r["Body"].read() == b"pipeline"


def test_a_pipeline_key_may_not_invoke_another_teams_endpoint(auth_daemon):
    rt = client("sagemaker-runtime", auth_daemon, PIPELINE)
    e = client_error(lambda: rt.invoke_endpoint(EndpointName=TEAM_B, Body=b"x"))
    assert_refused(e, "AccessDeniedException", denied(PIPELINE, "InvokeEndpoint", arn(TEAM_B)))


@pytest.mark.parametrize("op,call", [
    ("DescribeEndpoint", lambda sm: sm.describe_endpoint(EndpointName=TEAM_A)),
    ("CreateEndpoint", lambda sm: sm.create_endpoint(EndpointName=TEAM_A + "-new",
                                                     EndpointConfigName="demo-config")),
    ("DeleteEndpoint", lambda sm: sm.delete_endpoint(EndpointName=TEAM_A)),
])
def test_a_pipeline_key_can_do_nothing_else(auth_daemon, in_service, op, call):
    sm = client("sagemaker", auth_daemon, PIPELINE)
    e = client_error(lambda: call(sm))
    resource = arn(TEAM_A + "-new") if op == "CreateEndpoint" else arn(TEAM_A)
    assert_refused(e, "AccessDeniedException", denied(PIPELINE, op, resource), status=400)
    admin = client("sagemaker", auth_daemon, ADMIN)
    assert admin.describe_endpoint(EndpointName=TEAM_A)["EndpointStatus"] == "InService"


def test_a_pipeline_key_may_not_list_endpoints(auth_daemon):
    e = client_error(lambda: client("sagemaker", auth_daemon, PIPELINE).list_endpoints())
    assert_refused(e, "AccessDeniedException", denied(PIPELINE, "ListEndpoints", ACCOUNT_WIDE),
                   status=400)


def test_a_describe_wildcard_allows_every_describe(auth_daemon, in_service):
    sm = client("sagemaker", auth_daemon, READER)
    assert sm.describe_endpoint(EndpointName=in_service)["EndpointName"] == in_service
    assert sm.describe_endpoint_config(EndpointConfigName="demo-config")["EndpointConfigName"] == "demo-config"
    assert sm.describe_model(ModelName="demo")["ModelName"] == "demo"


def test_a_describe_wildcard_allows_nothing_else(auth_daemon, in_service):
    sm = client("sagemaker", auth_daemon, READER)
    e = client_error(lambda: sm.list_endpoints())
    assert_refused(e, "AccessDeniedException", denied(READER, "ListEndpoints", ACCOUNT_WIDE), status=400)
    e = client_error(lambda: sm.delete_endpoint(EndpointName=in_service))
    assert_refused(e, "AccessDeniedException", denied(READER, "DeleteEndpoint", arn(in_service)),
                   status=400)
    rt = client("sagemaker-runtime", auth_daemon, READER)
    e = client_error(lambda: rt.invoke_endpoint(EndpointName=in_service, Body=b"x"))
    assert_refused(e, "AccessDeniedException", denied(READER, "InvokeEndpoint", arn(in_service)))


def test_a_name_in_another_case_is_checked_against_the_endpoint_it_finds(auth_daemon, in_service):
    # UPPER may invoke Team-A-*; the endpoint is team-a-…: the same endpoint
    # to the API, not to the policy.
    rt = client("sagemaker-runtime", auth_daemon, UPPER)
    shouted = "Team-A-" + in_service[len("team-a-"):]
    e = client_error(lambda: rt.invoke_endpoint(EndpointName=shouted, Body=b"x"))
    assert_refused(e, "AccessDeniedException", denied(UPPER, "InvokeEndpoint", arn(in_service)))


def test_a_body_that_is_not_json_is_checked_against_the_whole_account(auth_daemon):
    body, headers = b"{not json", control("DescribeEndpoint", {})[1]
    r = send_prepared(signed(auth_daemon, PIPELINE, "POST", "/", body, headers))
    status, code, message = error_of(r)
    assert (status, code) == (400, "AccessDeniedException"), r
    assert message == denied(PIPELINE, "DescribeEndpoint", ACCOUNT_WIDE)
    # A key allowed that action everywhere gets the operation's own answer.
    r = send_prepared(signed(auth_daemon, READER, "POST", "/", body, headers))
    assert error_of(r)[:2] == (400, "SerializationException"), r


def test_closed_metrics_need_a_signature(auth_daemon):
    r = send(f"http://127.0.0.1:{auth_daemon.port}/metrics", method="GET")
    status, code, _ = error_of(r)
    assert (status, code) == (403, "MissingAuthenticationTokenException")
    status, _, body = send_prepared(signed(auth_daemon, ADMIN, "GET", "/metrics"))
    assert status == 200, body
    assert b"# TYPE" in body or b"# HELP" in body


def test_closed_metrics_need_describe_on_every_endpoint(auth_daemon):
    status, code, message = error_of(send_prepared(signed(auth_daemon, PIPELINE, "GET", "/metrics")))
    assert (status, code) == (403, "AccessDeniedException")
    assert message == denied(PIPELINE, "DescribeEndpoint", arn("*"))


def test_open_metrics_need_no_signature(endpointd_bin, docker_sock, demo_image, docker, clean_env):
    d = _start_daemon(endpointd_bin, docker_sock, demo_image, metrics_open=True)
    try:
        status, _, body = send(f"http://127.0.0.1:{d.port}/metrics", method="GET")
        assert status == 200, body
        r = ApiClient("127.0.0.1", d.port).call("ListEndpoints", {})
        assert r.status == 403 and r.error_type == "MissingAuthenticationTokenException", r
    finally:
        err = _stop_daemon(d)
    assert err is None, err


def test_a_head_without_signature_is_refused_before_its_body(auth_daemon):
    """An anonymous 6 MiB invocation is answered at its head, unread."""
    s = socket.create_connection(("127.0.0.1", auth_daemon.port), timeout=10)
    try:
        s.sendall(f"POST /endpoints/{TEAM_A}/invocations HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Length: 6291456\r\n\r\n".encode())
        r = http.client.HTTPResponse(s, method="POST")
        r.begin()
        assert r.status == 403
        assert r.getheader("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    finally:
        s.close()


# ---------------------------------------------------------------------------
# The AWS CLI


def aws(d, key, *args, faketime=None):
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": key.id, "AWS_SECRET_ACCESS_KEY": key.secret})
    cmd = [AWS, "--endpoint-url", f"http://127.0.0.1:{d.port}", "--output", "json", *args]
    if faketime:
        cmd = [FAKETIME, "-f", faketime, *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


needs_cli = pytest.mark.skipif(not os.access(AWS, os.X_OK), reason=f"{AWS} is not installed")


@needs_cli
def test_cli_right_key_describes(auth_daemon, in_service):
    p = aws(auth_daemon, ADMIN, "sagemaker", "describe-endpoint", "--endpoint-name", in_service)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["EndpointStatus"] == "InService"


@needs_cli
def test_cli_wrong_key_is_an_invalid_signature(auth_daemon, in_service):
    bad = Key(ADMIN.name, ADMIN.id, "wrong")
    p = aws(auth_daemon, bad, "sagemaker", "describe-endpoint", "--endpoint-name", in_service)
    assert p.returncode != 0
    assert "(InvalidSignatureException)" in p.stderr, p.stderr
    assert BAD_SIGNATURE in p.stderr, p.stderr


@needs_cli
@pytest.mark.skipif(not os.access(FAKETIME, os.X_OK), reason=f"{FAKETIME} is not installed (apt-get install faketime)")
def test_cli_with_a_clock_20_minutes_behind_is_refused_as_expired(auth_daemon, in_service):
    p = aws(auth_daemon, ADMIN, "sagemaker", "describe-endpoint", "--endpoint-name", in_service,
            faketime="-20m")
    assert p.returncode != 0
    assert "(InvalidSignatureException)" in p.stderr, p.stderr
    assert "Signature expired" in p.stderr, p.stderr


# ---------------------------------------------------------------------------
# The AWS SDK for JavaScript v3


def test_js_sdk_signs_and_is_checked(auth_daemon, in_service, tmp_path, aws_env):
    if not os.access(NODE, os.X_OK):
        pytest.skip(f"{NODE} is not installed")
    modules = js_modules()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NODE_"))}
    env.update(aws_env)
    env.update({
        "NODE_PATH": modules,
        "ENDPOINT_URL": f"http://127.0.0.1:{auth_daemon.port}",
        "ENDPOINTD_JS_PREFIX": f"{SESSION_PREFIX}-jsauth",
        "ENDPOINTD_ACCOUNT": ACCOUNT,
        "ENDPOINTD_REGION": REGION,
        "ENDPOINTD_AUTH_ENDPOINT": in_service,
        "ENDPOINTD_AUTH_OTHER_ENDPOINT": TEAM_B,
        "ENDPOINTD_AUTH_KEYS": json.dumps({k.name: {"accessKeyId": k.id, "secretAccessKey": k.secret}
                                           for k in (ADMIN, PIPELINE)}),
    })
    cmd = [NODE, "--test", "--test-reporter=spec", os.path.join(JS_DIR, "auth.test.js")]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=240)
    assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert re.search(r"^\S* ?skipped 0$", p.stdout, re.M), p.stdout  # run, not skipped
