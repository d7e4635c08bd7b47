"""The AWS SDK for JavaScript v3, pointed at endpointd, works unchanged.

The tests themselves are node's own (tests/js/*.test.js, run with
`/usr/bin/node --test`): each file is one test here, against the session's
daemon, and passes when node's test runner exits 0; its report is shown when
it does not.  The SDK checks nothing on the client side, so these tests see
the daemon's own validation too.

The packages are the ones tests/js/package-lock.json pins, installed with
`npm ci` into $ENDPOINTD_JS_DIR (tests/run-docker-tests puts it in the build
tree: the source tree may be read-only) once per lock file.  Without
/usr/bin/node and /usr/bin/npm these tests skip (apt-get install nodejs npm).
"""

import os
import subprocess

import pytest

from endpointd_harness import ACCOUNT, JS_SRC, NODE, NPM, REGION, env_setting, js_modules as install_js, unique_name

JS_TESTS = sorted(f for f in os.listdir(JS_SRC) if f.endswith(".test.js"))
# Each file's tests bound themselves (60 s each, waiters less); this bounds
# a node that hangs outside them.
NODE_TIMEOUT_S = 240

pytestmark = pytest.mark.skipif(
    not (os.access(NODE, os.X_OK) and os.access(NPM, os.X_OK)),
    reason=f"{NODE} or {NPM} is not installed (apt-get install nodejs npm)",
)


@pytest.fixture(scope="session")
def js_modules():
    """The node_modules directory that tests/js's lock file describes."""
    return install_js()


@pytest.fixture
def node_env(api, aws_env, js_modules, endpoints):
    """The environment of one node run; its endpoints are cleaned up after."""
    proxies = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NODE_")) and k not in proxies}
    env.update(aws_env)
    prefix = unique_name("js")
    env.update({
        "NODE_PATH": js_modules,
        "ENDPOINT_URL": api.url,
        "ENDPOINTD_JS_PREFIX": prefix,
        "ENDPOINTD_ACCOUNT": ACCOUNT,
        "ENDPOINTD_REGION": REGION,
        # eventstream.test.js decodes lib/eventstream.c's frames from this tool.
        "EVENTSTREAM_FRAMES": os.environ.get("EVENTSTREAM_FRAMES")
        or os.path.join(env_setting("top_builddir"), "tests", "eventstream-frames"),
    })
    yield env
    # Whatever the run left behind, even when node died half-way.
    for e in api.all_endpoints(NameContains=prefix):
        endpoints.adopt(e["EndpointName"])


@pytest.mark.parametrize("test_file", JS_TESTS)
def test_js_sdk(node_env, tmp_path, test_file):
    cmd = [NODE, "--test", "--test-reporter=spec", os.path.join(JS_SRC, test_file)]
    try:
        p = subprocess.run(cmd, cwd=tmp_path, env=node_env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out = "\n".join(x.decode(errors="replace") if isinstance(x, bytes) else x
                        for x in (e.stdout, e.stderr) if x)
        pytest.fail(f"{' '.join(cmd)} ran past {NODE_TIMEOUT_S} s\n{out}", pytrace=False)
    assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
