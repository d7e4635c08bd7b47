"""lib/auth.c against requests signed by botocore in the test itself.

Each request is signed by botocore's own signers (SigV4Auth, SigV4QueryAuth,
and the boto3 clients' request pipeline), written out as the raw bytes a
client would send, and checked by tests/auth/auth-verify; then one part is
changed and the check must refuse it with AWS's error.  The signing clock is
fixed, and auth-verify is given its own fixed `now`, so nothing depends on
the machine's clock.
"""
import calendar
import datetime
import os
import subprocess
import types
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

VERIFY = os.environ.get("AUTH_VERIFY") or os.path.join(
    os.environ.get("top_builddir", "."), "tests", "auth", "auth-verify")
AKID, SECRET = "AKIDTEAMA0000000001", "team-a-secret/with+odd=chars"
OTHER_AKID, OTHER_SECRET = "AKIDTEAMB0000000002", "team-b-secret"
REGION, SERVICE = "eu-west-1", "sagemaker"
SIGNED_AT = datetime.datetime(2026, 12, 2, 14, 30, 0)
NOW = calendar.timegm(SIGNED_AT.timetuple())
HOST = "endpointd.internal:8080"


class _FixedClock(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(2026, 12, 2, 14, 30, 0)


@pytest.fixture(autouse=True)
def fixed_signing_clock(monkeypatch):
    monkeypatch.setattr(botocore.auth, "datetime",
                        types.SimpleNamespace(datetime=_FixedClock))


def raw_request(method, url, headers, body):
    """The bytes a client sends: request line, headers in order, body."""
    parts = urlsplit(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1"]
    names = [n.lower() for n, _ in headers]
    if "host" not in names:
        lines.append(f"Host: {parts.netloc}")
    for name, value in headers:
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        lines.append(f"{name}: {value}")
    if body and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def verify(raw, now=NOW, region=REGION, service=SERVICE,
           keys=(f"{AKID}:{SECRET}:team-a", f"{OTHER_AKID}:{OTHER_SECRET}:team-b")):
    proc = subprocess.run(
        [VERIFY, "--now", str(now), "--region", region, "--service", service, *keys],
        input=raw, capture_output=True, timeout=30)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return proc.stdout.decode().strip()


def sign(method, url, headers=(), body=b"", akid=AKID, secret=SECRET,
         region=REGION, service=SERVICE):
    """A request signed with the Authorization header; (method, url, headers, body)."""
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    botocore.auth.SigV4Auth(Credentials(akid, secret), service, region).add_auth(req)
    return method, req.url, list(req.headers.items()), body


def presign(method, url, headers=(), body=b"", expires=300, akid=AKID, secret=SECRET):
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    botocore.auth.SigV4QueryAuth(Credentials(akid, secret), SERVICE, REGION,
                                 expires=expires).add_auth(req)
    return method, req.url, list(req.headers.items()), body


def control_plane(target="DescribeEndpoint", body=b'{"EndpointName":"team-a-fraud"}'):
    return sign("POST", f"http://{HOST}/", [
        ("X-Amz-Target", f"SageMaker.{target}"),
        ("Content-Type", "application/x-amz-json-1.1")], body)


def invocation(name="team-a-fraud", body=bytes(range(256)) * 4):
    return sign("POST", f"http://{HOST}/endpoints/{name}/invocations", [
        ("Content-Type", "application/octet-stream"), ("Accept", "application/json")], body)


def with_header(signed, name, value):
    method, url, headers, body = signed
    return method, url, [(n, value if n.lower() == name.lower() else v) for n, v in headers], body


OK = "OK team-a"
BAD_SIGNATURE = ("InvalidSignatureException 403 The request signature we calculated does not "
                 "match the signature you provided. Check your AWS Secret Access Key and signing "
                 "method. Consult the service documentation for details.")


# What botocore signs verifies.

def test_control_plane_post_with_x_amz_target_verifies():
    assert verify(raw_request(*control_plane())) == OK


def test_runtime_invocation_with_binary_body_verifies():
    assert verify(raw_request(*invocation())) == OK


def test_empty_body_verifies():
    assert verify(raw_request(*sign("GET", f"http://{HOST}/metrics"))) == OK


def test_second_key_verifies_as_itself():
    signed = control_plane()
    signed = sign(*signed[:2], signed[2], signed[3], akid=OTHER_AKID, secret=OTHER_SECRET)
    assert verify(raw_request(*signed)) == "OK team-b"


@pytest.mark.parametrize("path", [
    "/endpoints/a%20b/invocations",          # a space, encoded once by the client
    "/endpoints/x%2Fy/invocations",          # an encoded slash signs as %252F
    "/endpoints/%C3%A9t%C3%A9/invocations",  # UTF-8
    "/endpoints/a~b_c.d-e/invocations",      # unreserved characters as they are
    "/endpoints/a%3Ab%40c%2B/invocations",
    "/endpoints//double//slashes/",
    "/endpoints/./dot/../invocations",
])
def test_paths_that_need_encoding_verify(path):
    assert verify(raw_request(*sign("POST", f"http://{HOST}{path}", [], b"{}"))) == OK


@pytest.mark.parametrize("query", [
    "b=2&a=1",
    "a=2&a=1&a=10",          # repeated, sorted by value
    "empty=&flag&z=",        # empty values and a bare name
    "k%20ey=v%2Falue&x=~",   # encoded names and values
])
def test_query_strings_verify(query):
    assert verify(raw_request(*sign("GET", f"http://{HOST}/metrics?{query}"))) == OK


def test_extra_headers_with_odd_spacing_verify():
    signed = sign("POST", f"http://{HOST}/", [
        ("X-Amz-Target", "SageMaker.ListEndpoints"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Custom", "  several   inner    spaces  "),
        ("X-Tabbed", "\tone\t two  ")], b"{}")
    assert verify(raw_request(*signed)) == OK


def test_header_sent_twice_is_joined_with_a_comma():
    method, url, headers, body = sign("GET", f"http://{HOST}/metrics", [("X-Multi", "a,b")])
    headers = [(n, v) for n, v in headers if n != "X-Multi"] + [("X-Multi", "a"), ("x-multi", "b")]
    assert verify(raw_request(method, url, headers, body)) == OK


def test_x_amz_content_sha256_header_is_signed_and_checked():
    import hashlib
    body = b'{"EndpointName":"team-a-fraud"}'
    signed = sign("POST", f"http://{HOST}/", [
        ("X-Amz-Target", "SageMaker.DescribeEndpoint"),
        ("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest())], body)
    assert verify(raw_request(*signed)) == OK


def test_presigned_url_verifies():
    assert verify(raw_request(*presign("GET", f"http://{HOST}/metrics?x=1"))) == OK


def test_presigned_post_signs_the_body_hash():
    signed = presign("POST", f"http://{HOST}/endpoints/team-a-fraud/invocations")
    assert verify(raw_request(*signed)) == OK
    method, url, headers, body = signed
    assert verify(raw_request(method, url, headers, b"\x00\x01binary")) == BAD_SIGNATURE


def test_presigned_json_body_moves_into_the_signed_query():
    method, url, headers, _ = presign("POST", f"http://{HOST}/",
                                      body=b'{"EndpointName": "team-a-fraud"}')
    assert "EndpointName=team-a-fraud" in url
    assert verify(raw_request(method, url, headers, b"")) == OK
    assert verify(raw_request(method, url.replace("team-a", "team-b"), headers, b"")) == \
        BAD_SIGNATURE


def test_presigned_url_expires_after_x_amz_expires():
    signed = presign("GET", f"http://{HOST}/metrics", expires=300)
    assert verify(raw_request(*signed), now=NOW + 300) == OK
    assert verify(raw_request(*signed), now=NOW + 301).startswith(
        "InvalidSignatureException 403 Request has expired")


def _captured(client, call, **params):
    """The request a boto3 client would send, captured before it goes out."""
    seen = {}

    class Captured(Exception):
        pass

    def before_send(request, **_):
        seen["request"] = request
        raise Captured()
    client.meta.events.register("before-send", before_send)
    with pytest.raises(Captured):
        getattr(client, call)(**params)
    r = seen["request"]
    body = r.body if isinstance(r.body, bytes) else (r.body or b"")
    if hasattr(body, "read"):
        body = body.read()
    return r.method, r.url, list(r.headers.items()), body


def _signed_at(signed):
    """The client's own signing time (its signer reads the clock itself)."""
    date = dict(signed[2])["X-Amz-Date"]
    date = date.decode() if isinstance(date, bytes) else date
    return calendar.timegm(datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").timetuple())


def _client(service):
    return boto3.client(service, region_name=REGION, endpoint_url=f"http://{HOST}",
                        aws_access_key_id=AKID, aws_secret_access_key=SECRET)


def test_boto3_sagemaker_runtime_signs_with_service_sagemaker():
    signed = _captured(_client("sagemaker-runtime"), "invoke_endpoint",
                       EndpointName="team-a-fraud", Body=b"\xff\x00payload",
                       ContentType="application/octet-stream")
    authorization = dict(signed[2])["Authorization"]
    if isinstance(authorization, bytes):
        authorization = authorization.decode()
    assert "/sagemaker/aws4_request," in authorization
    assert verify(raw_request(*signed), now=_signed_at(signed)) == OK


def test_boto3_sagemaker_control_plane_verifies():
    signed = _captured(_client("sagemaker"), "describe_endpoint", EndpointName="team-a-fraud")
    assert verify(raw_request(*signed), now=_signed_at(signed)) == OK


# Each part tampered with is refused.

def test_tampered_method_is_refused():
    method, url, headers, body = control_plane()
    assert verify(raw_request("PUT", url, headers, body)) == BAD_SIGNATURE


def test_tampered_path_is_refused():
    method, url, headers, body = invocation()
    assert verify(raw_request(method, url.replace("team-a", "team-b"), headers, body)) == \
        BAD_SIGNATURE


def test_tampered_query_is_refused():
    method, url, headers, body = sign("GET", f"http://{HOST}/metrics?a=1")
    assert verify(raw_request(method, url.replace("a=1", "a=2"), headers, body)) == BAD_SIGNATURE


def test_tampered_signed_header_is_refused():
    signed = with_header(control_plane(), "X-Amz-Target", "SageMaker.DeleteEndpoint")
    assert verify(raw_request(*signed)) == BAD_SIGNATURE


def test_tampered_body_is_refused():
    method, url, headers, body = invocation()
    assert verify(raw_request(method, url, headers, body[:-1] + b"X")) == BAD_SIGNATURE


def test_x_amz_content_sha256_not_matching_the_body_is_refused():
    method, url, headers, body = sign("POST", f"http://{HOST}/", [
        ("X-Amz-Content-SHA256", "0" * 64)], b"{}")
    assert "x-amz-content-sha256" in verify(raw_request(method, url, headers, body))


def test_unsigned_payload_is_refused():
    method, url, headers, body = sign("POST", f"http://{HOST}/", [
        ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")], b"{}")
    assert verify(raw_request(method, url, headers, body)).startswith("InvalidSignatureException 403")


def test_tampered_date_is_refused():
    signed = with_header(control_plane(), "X-Amz-Date", "20261202T143001Z")
    assert verify(raw_request(*signed)) == BAD_SIGNATURE


def test_scope_date_not_the_request_date_is_refused():
    signed = with_header(control_plane(), "X-Amz-Date", "20261203T000000Z")
    assert "Date in Credential scope does not match" in verify(raw_request(*signed), now=NOW + 34200)


def test_other_region_is_refused():
    out = verify(raw_request(*control_plane()), region="us-east-1")
    assert out.startswith("InvalidSignatureException 403 Credential should be scoped to a valid region")


def test_other_service_is_refused():
    signed = sign("POST", f"http://{HOST}/", [], b"{}", service="sagemaker-runtime")
    assert verify(raw_request(*signed)) == \
        "InvalidSignatureException 403 Credential should be scoped to correct service: 'sagemaker'."


def test_unknown_key_id_is_refused():
    signed = sign("POST", f"http://{HOST}/", [], b"{}", akid="AKIDUNKNOWN")
    assert verify(raw_request(*signed)) == \
        "UnrecognizedClientException 403 The security token included in the request is invalid."


def test_wrong_secret_is_refused():
    signed = sign("POST", f"http://{HOST}/", [], b"{}", secret="not-the-secret")
    assert verify(raw_request(*signed)) == BAD_SIGNATURE


def test_missing_signed_header_is_refused():
    method, url, headers, body = control_plane()
    headers = [(n, v) for n, v in headers if n != "X-Amz-Target"]
    assert verify(raw_request(method, url, headers, body)).startswith(
        "IncompleteSignatureException 400 SignedHeaders names 'x-amz-target'")


def test_no_signature_at_all_is_refused():
    assert verify(raw_request("GET", f"http://{HOST}/metrics", [], b"")) == \
        "MissingAuthenticationTokenException 403 Missing Authentication Token"


def test_date_twenty_minutes_old_is_refused_as_expired():
    assert verify(raw_request(*control_plane()), now=NOW + 20 * 60) == (
        "InvalidSignatureException 403 Signature expired: 20261202T143000Z is now earlier than "
        "20261202T143500Z (20261202T145000Z - 15 min.)")


def test_date_twenty_minutes_ahead_is_refused_as_not_yet_current():
    assert verify(raw_request(*control_plane()), now=NOW - 20 * 60) == (
        "InvalidSignatureException 403 Signature not yet current: 20261202T143000Z is still later "
        "than 20261202T142500Z (20261202T141000Z + 15 min.)")


def test_date_fifteen_minutes_off_either_way_is_accepted():
    assert verify(raw_request(*control_plane()), now=NOW + 15 * 60) == OK
    assert verify(raw_request(*control_plane()), now=NOW - 15 * 60) == OK


# lib/auth.c's signer (endpointctl's) writes what botocore's SigV4Auth writes.

def own_signature(method, url, headers, body, akid=AKID, secret=SECRET, token=None, now=NOW):
    """The headers auth_sign adds to the request, signing every header given."""
    parts = urlsplit(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    key = f"{akid}:{secret}" + (f":{token}" if token else "")
    proc = subprocess.run([VERIFY, "--sign", "--now", str(now), "--region", REGION,
                           "--service", SERVICE, key], input=raw, capture_output=True, timeout=30)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return dict(line.split(": ", 1) for line in proc.stdout.decode().splitlines())


def botocore_signature(method, url, headers, body, akid=AKID, secret=SECRET, token=None):
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    botocore.auth.SigV4Auth(Credentials(akid, secret, token), SERVICE, REGION).add_auth(req)
    added = {"X-Amz-Date": req.headers["X-Amz-Date"], "Authorization": req.headers["Authorization"]}
    if token:
        added["X-Amz-Security-Token"] = req.headers["X-Amz-Security-Token"]
    return added


SIGNER_CASES = {
    "control_plane_call": ("POST", f"http://{HOST}/", [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", "SageMaker.CreateEndpoint")],
        b'{"EndpointName":"team-a-fraud","EndpointConfigName":"c"}'),
    "invocation_with_every_header_endpointctl_sends": (
        "POST", f"http://{HOST}/endpoints/team-a-fraud/invocations", [
            ("Content-Type", "application/octet-stream"), ("Accept", "application/json"),
            ("X-Amzn-SageMaker-Target-Variant", "AllTraffic"),
            ("X-Amzn-SageMaker-Custom-Attributes", "trace=1,  user=a b")],
        bytes(range(256)) * 64),
    "invocation_of_a_name_that_needs_encoding": (
        "POST", f"http://{HOST}/endpoints/a%20b%2Fc/invocations",
        [("Content-Type", "text/csv")], b"1,2,3\n"),
    "metrics_get_with_an_empty_body": ("GET", "http://127.0.0.1:8780/metrics", [], b""),
    "default_port_host_without_port": ("GET", "http://endpointd.internal/metrics", [], b""),
    "query_string": ("GET", f"http://{HOST}/metrics?b=2&a=1&a=0", [], b""),
}


@pytest.mark.parametrize("case", sorted(SIGNER_CASES))
def test_own_signer_equals_botocore_sigv4auth(case):
    method, url, headers, body = SIGNER_CASES[case]
    assert own_signature(method, url, headers, body) == \
        botocore_signature(method, url, headers, body)


@pytest.mark.parametrize("case", sorted(SIGNER_CASES))
def test_own_signer_with_a_session_token_equals_botocore_sigv4auth(case):
    method, url, headers, body = SIGNER_CASES[case]
    token = "FwoGZXIvYXdzEJr//////////wEaDO+temporary/token=="
    assert own_signature(method, url, headers, body, token=token) == \
        botocore_signature(method, url, headers, body, token=token)


def test_own_signature_verifies():
    method, url, headers, body = SIGNER_CASES["control_plane_call"]
    added = own_signature(method, url, headers, body)
    assert verify(raw_request(method, url, headers + list(added.items()), body)) == OK
