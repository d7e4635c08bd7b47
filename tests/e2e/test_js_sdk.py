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

import filecmp
import os
import shutil
import subprocess

import pytest

from endpointd_harness import ACCOUNT, REGION, env_setting, unique_name

NODE = "/usr/bin/node"
NPM = "/usr/bin/npm"
JS_SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "js"))
JS_TESTS = sorted(f for f in os.listdir(JS_SRC) if f.endswith(".test.js"))
LOCK = "package-lock.json"
# Where the lock file that the installed node_modules came from is kept.
INSTALLED_LOCK = ".installed-package-lock.json"
NPM_TIMEOUT_S = 300
# Each file's tests bound themselves (60 s each, waiters less); this bounds
# a node that hangs outside them.
NODE_TIMEOUT_S = 240

pytestmark = pytest.mark.skipif(
    not (os.access(NODE, os.X_OK) and os.access(NPM, os.X_OK)),
    reason=f"{NODE} or {NPM} is not installed (apt-get install nodejs npm)",
)


def _installed(dest):
    """Whether dest/node_modules came from the lock file as it is now."""
    stamp = os.path.join(dest, INSTALLED_LOCK)
    return (os.path.isdir(os.path.join(dest, "node_modules")) and os.path.exists(stamp)
            and filecmp.cmp(os.path.join(JS_SRC, LOCK), stamp, shallow=False))


@pytest.fixture(scope="session")
def js_modules():
    """The node_modules directory that tests/js's lock file describes."""
    dest = os.path.abspath(env_setting("ENDPOINTD_JS_DIR"))
    if _installed(dest):
        return os.path.join(dest, "node_modules")
    os.makedirs(dest, exist_ok=True)
    if not os.path.samefile(dest, JS_SRC):
        for f in ("package.json", LOCK):
            shutil.copyfile(os.path.join(JS_SRC, f), os.path.join(dest, f))
    cmd = [NPM, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline",
           "--update-notifier=false"]
    try:
        p = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd)} in {dest} took more than {NPM_TIMEOUT_S} s", pytrace=False)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} in {dest} -> {p.returncode}\n{p.stdout}\n{p.stderr}", pytrace=False)
    shutil.copyfile(os.path.join(JS_SRC, LOCK), os.path.join(dest, INSTALLED_LOCK))
    return os.path.join(dest, "node_modules")


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
