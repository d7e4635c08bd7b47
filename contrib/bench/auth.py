#!/usr/bin/python3
"""auth: what checking signatures costs InvokeEndpoint.

  (1) Through the daemon: two endpointd of its own on one Docker Engine, one
      with a credentials file (auth on), one without (auth off), each with
      one endpoint of one demo-model instance.  wrk (Debian's /usr/bin/wrk)
      POSTs 512-byte bodies to each, --runs times alternating, 32
      connections, 2 threads.  On the auth side every request carries one
      SigV4 signature made by botocore at the start of each run (SigV4 has
      no nonce: a signature stays valid for the 15 minutes of AWS's clock
      rule, and the daemon verifies it in full each time).  Prints every run,
      the medians, the throughput ratio on/off (target >= 0.95) and the p50
      latency auth adds, then one single-connection run each way (-c 1 -t 1):
      the latency added without queueing.
  (2) The verification itself, per call: a small C program built by this
      script against the build's libendpointd.a times auth_sha256_evbuffer()
      over the body as httpd holds it (chains of 32 KiB) plus auth_verify()
      of a request botocore signed, for 512-byte and 6 MiB bodies: the mean
      in microseconds over many calls.

Run by hand, never from the test suite (it needs botocore, /usr/bin/wrk and
a cc for part 2):
  sudo /usr/bin/python3 contrib/bench/auth.py \\
      --docker-host unix:///var/run/docker.sock --build-dir build
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:
    bl.die("botocore is needed to sign (apt-get install python3-botocore)")

TARGET_RATIO = 0.95
REGION = "us-east-1"
KEY_ID = "AKIDBENCH00000000001"
SECRET = "bench/Secret+Key000000000000000000000001"
# invoke-post.lua's body, byte for byte: the signature covers it.
PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"
MIB = 1 << 20

CREDENTIALS = f"""keys:
  - name: bench
    access_key_id: {KEY_ID}
    secret_access_key: "{SECRET}"
    allow:
      - actions: ["sagemaker:*"]
        resources: ["*"]
"""

TIMER_C = r"""
/* Times auth_sha256_evbuffer() + auth_verify() over one signed request. */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "auth.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* argv: body-file iterations verify-now key-id secret method path nh name value ... */
int main(int argc, char **argv)
{
	if (argc < 9)
		return 2;
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		return 2;
	struct evbuffer *body = evbuffer_new();
	char chunk[32 * 1024];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		evbuffer_add(body, chunk, n); /* chains as httpd's reads leave them */
	fclose(f);
	long iterations = atol(argv[2]);
	double at = atof(argv[3]);
	struct auth_key key = {.name = "bench", .access_key_id = argv[4], .secret_access_key = argv[5]};
	struct auth_keys keys = {.refs = 1, .keys = &key, .n_keys = 1};
	size_t nh = (size_t)atol(argv[8]);
	const char **names = calloc(nh + 1, sizeof(*names)), **values = calloc(nh + 1, sizeof(*values));
	for (size_t i = 0; i < nh; i++) {
		names[i] = argv[9 + 2 * i];
		values[i] = argv[10 + 2 * i];
	}
	double t0 = now_s();
	for (long i = 0; i < iterations; i++) {
		char hex[65];
		auth_sha256_evbuffer(body, hex);
		struct auth_request r = {.method = argv[6], .raw_path = argv[7], .raw_query = NULL,
		                         .header_names = names, .header_values = values,
		                         .n_headers = nh, .body_sha256_hex = hex};
		struct auth_verdict v;
		if (auth_verify(&keys, &r, "us-east-1", "sagemaker", at, &v) != 0) {
			fprintf(stderr, "refused: %s\n", v.message ? v.message : "?");
			return 1;
		}
		auth_verdict_clear(&v);
	}
	double t1 = now_s();
	printf("%.3f\n", (t1 - t0) / (double)iterations * 1e6);
	return 0;
}
"""


def body_of(size):
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def sign(url, path, body, content_type="application/octet-stream"):
    """(X-Amz-Date epoch, headers) of a POST signed by botocore."""
    req = AWSRequest(method="POST", url=url + path, data=body, headers={"Content-Type": content_type})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", REGION).add_auth(req)
    p = req.prepare()
    stamp = datetime.datetime.strptime(p.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    epoch = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
    return epoch, {k: v for k, v in p.headers.items()}


class AuthDaemon(bl.Daemon):
    """A daemon with keys: up once it answers at all (unsigned calls are 403)."""

    def _wait_ready(self, timeout):
        deadline = bl.now() + timeout
        while bl.now() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                import http.client
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/metrics")
                c.getresponse().read()
                c.close()
                return True
            except OSError:
                time.sleep(0.05)
        return False


def signed_call(url, op, body):
    import http.client
    import json
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=url + "/", data=data,
                     headers={"Content-Type": bl.CONTENT_TYPE, "X-Amz-Target": f"SageMaker.{op}"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", REGION).add_auth(req)
    p = req.prepare()
    port = int(url.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/", body=data, headers=dict(p.headers))
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        c.close()


def wait_in_service(call, name, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, d = call("DescribeEndpoint", {"EndpointName": name})
        if st == 200 and d.get("EndpointStatus") == "InService":
            return
        if st == 200 and d.get("EndpointStatus") == "Failed":
            bl.die(f"{name} failed: {d.get('FailureReason')}")
        time.sleep(0.1)
    bl.die(f"{name} not InService within {timeout} s")


def run_wrk(a, url, headers, connections, threads, duration):
    return bl.run_wrk(a.wrk, url, connections, threads, duration, a.body_bytes, headers=headers)


def cpu_seconds(pid):
    """User plus system CPU time process pid has used, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through_daemon(a):
    tmp = tempfile.mkdtemp(prefix="endpointd-bench-auth.")
    creds = os.path.join(tmp, "credentials.yaml")
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(CREDENTIALS)
    binary = a.endpointd or bl.default_endpointd()
    if not binary:
        bl.die("no endpointd binary (--endpointd)")
    engine = bl.Engine(a.docker_host)
    cpus = str(os.cpu_count() or 1)
    on = AuthDaemon(binary, a.docker_host, a.image, log_level="info", stamp_log=False, cpus=cpus,
                    memory="512MiB", extra_config=f"auth:\n  credentials: {creds}\n  metrics_open: true\n")
    off = bl.Daemon(binary, a.docker_host, a.image, log_level="info", stamp_log=False, cpus=cpus,
                    memory="512MiB")
    name_on, name_off = f"bench-{os.getpid()}-auth-on", f"bench-{os.getpid()}-auth-off"
    plain = bl.Client(off.url)
    try:
        signed_call(on.url, "CreateEndpoint", {"EndpointName": name_on,
                                               "EndpointConfigName": bl.DEFAULT_CONFIG_NAME})
        plain.create(name_off, bl.DEFAULT_CONFIG_NAME)
        wait_in_service(lambda op, b: signed_call(on.url, op, b), name_on)
        wait_in_service(lambda op, b: plain.call(op, b), name_off)
        path_on, path_off = f"/endpoints/{name_on}/invocations", f"/endpoints/{name_off}/invocations"
        body = body_of(a.body_bytes)

        def side(auth, c, t, d):
            daemon = on if auth else off
            before = cpu_seconds(daemon.proc.pid)
            if auth:
                _, headers = sign(on.url, path_on, body)  # fresh for each run
                r = run_wrk(a, on.url + path_on, headers, c, t, d)
            else:
                r = run_wrk(a, off.url + path_off, {}, c, t, d)
            r["cpu_us"] = (cpu_seconds(daemon.proc.pid) - before) * 1e6 / max(r["requests"], 1)
            return r

        if a.warmup:
            side(True, a.connections, a.threads, a.warmup)
            side(False, a.connections, a.threads, a.warmup)
        results = {True: [], False: []}
        for i in range(a.runs):
            for auth in (False, True):
                r = side(auth, a.connections, a.threads, a.duration)
                bad = r["errors"]["status"]
                results[auth].append(r)
                print(f"run {i + 1} auth {'on ' if auth else 'off'}: {r['rps']:9.0f} req/s  "
                      f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  "
                      f"daemon CPU {r['cpu_us']:.1f} us/call  non-2xx {bad}")
        med = {k: (statistics.median(x["rps"] for x in v), statistics.median(x["p50"] for x in v))
               for k, v in results.items()}
        ratio = med[True][0] / med[False][0]
        print(f"median: auth off {med[False][0]:.0f} req/s p50 {med[False][1]:.3f} ms; "
              f"auth on {med[True][0]:.0f} req/s p50 {med[True][1]:.3f} ms")
        print(f"throughput on/off {ratio:.3f} (target >= {TARGET_RATIO}) "
              f"{'OK' if ratio >= TARGET_RATIO else 'MISSED'}; p50 added "
              f"{(med[True][1] - med[False][1]) * 1000:.0f} us")
        cpu = {k: statistics.median(x["cpu_us"] for x in v) for k, v in results.items()}
        print(f"daemon CPU per call: auth off {cpu[False]:.1f} us, auth on {cpu[True]:.1f} us: "
              f"added {cpu[True] - cpu[False]:.1f} us; calls per CPU-second on/off "
              f"{cpu[False] / cpu[True]:.3f} (target >= {TARGET_RATIO}) "
              f"{'OK' if cpu[False] / cpu[True] >= TARGET_RATIO else 'MISSED'}")
        one = {auth: side(auth, 1, 1, a.duration) for auth in (False, True)}
        print(f"one connection: auth off p50 {one[False]['p50'] * 1000:.0f} us, auth on p50 "
              f"{one[True]['p50'] * 1000:.0f} us: added {(one[True]['p50'] - one[False]['p50']) * 1000:.0f} us")
    finally:
        try:
            signed_call(on.url, "DeleteEndpoint", {"EndpointName": name_on})
            plain.call("DeleteEndpoint", {"EndpointName": name_off})
            for n in (name_on, name_off):
                engine.wait_no_containers(f"{bl.LABEL_ENDPOINT}={n}", timeout=60)
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            print(f"cleanup: {e}", file=sys.stderr)
        plain.close()
        for d in (on, off):
            d.stop(quiet=True)
            d.cleanup()
        for n in (name_on, name_off):
            engine.remove_labelled(f"{bl.LABEL_ENDPOINT}={n}")
        shutil.rmtree(tmp, ignore_errors=True)


def verification_cost(a):
    build = os.path.abspath(a.build_dir)
    lib = os.path.join(build, "lib", ".libs", "libendpointd.a")
    if not os.path.exists(lib):
        bl.die(f"{lib} is not built (--build-dir)")
    tmp = tempfile.mkdtemp(prefix="endpointd-bench-auth-c.")
    try:
        src, exe = os.path.join(tmp, "timer.c"), os.path.join(tmp, "timer")
        with open(src, "w") as f:
            f.write(TIMER_C)
        libs = subprocess.run(["pkg-config", "--libs", "libevent", "jansson", "yaml-0.1", "libcurl",
                               "libsystemd", "zlib", "libcrypto"], capture_output=True, text=True,
                              check=True).stdout.split()
        subprocess.run([a.cc, "-O2", "-I", os.path.join(bl.REPO_ROOT, "lib"), "-o", exe, src, lib,
                        *libs, "-lm", "-ldl", "-lpthread"], check=True)
        url = "http://127.0.0.1:8080"
        for size, iterations in ((512, 20000), (6 * MIB, 40)):
            body = body_of(size)
            path = "/endpoints/bench/invocations"
            at, headers = sign(url, path, body)
            headers["Host"] = "127.0.0.1:8080"
            headers["Content-Length"] = str(size)
            bf = os.path.join(tmp, "body")
            with open(bf, "wb") as f:
                f.write(body)
            args = [exe, bf, str(iterations), str(at), KEY_ID, SECRET, "POST", path, str(len(headers))]
            for k, v in headers.items():
                args += [k, v]
            us = float(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
            print(f"verify {size:>8} B: {us:10.1f} us per call (hash + auth_verify, {iterations} calls)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docker-host", default=bl.default_docker_host())
    p.add_argument("--endpointd", default=None)
    p.add_argument("--build-dir", default=os.path.join(bl.REPO_ROOT, "build"),
                   help="the build whose lib/.libs/libendpointd.a part 2 links (default build/)")
    p.add_argument("--cc", default="cc")
    p.add_argument("--image", default=bl.DEFAULT_IMAGE)
    p.add_argument("--wrk", default="/usr/bin/wrk")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--body-bytes", type=int, default=512)
    p.add_argument("--skip-daemon", action="store_true", help="part 2 only")
    a = p.parse_args()
    if not a.skip_daemon:
        through_daemon(a)
    verification_cost(a)


if __name__ == "__main__":
    main()
