"""The AWS CLI (Debian's awscli) against the booted daemon."""

import json
import os
import subprocess

AWS = "/usr/bin/aws"


def aws_env():
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID="boot-test", AWS_SECRET_ACCESS_KEY="boot-test",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


def aws(port, *args, check=True):
    """Run `aws --endpoint-url … args`; the parsed JSON output (or None)."""
    r = subprocess.run([AWS, "--endpoint-url", f"http://127.0.0.1:{port}", "--output", "json",
                        *args], capture_output=True, text=True, env=aws_env(), timeout=120)
    if check:
        assert r.returncode == 0, f"aws {' '.join(args)}: {r.stderr}"
    return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else r


def invoke(port, endpoint, body, outfile):
    """InvokeEndpoint through the CLI; (metadata, body bytes)."""
    with open(outfile + ".in", "wb") as f:
        f.write(body)
    meta = aws(port, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", endpoint,
               "--content-type", "application/json", "--body", "fileb://" + outfile + ".in",
               outfile)
    with open(outfile, "rb") as f:
        return meta, f.read()
