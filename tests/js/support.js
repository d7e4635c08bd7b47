'use strict';
/*
 * What the AWS SDK for JavaScript v3 tests share: clients pointed at the
 * endpointd under test, endpoint names that the harness cleans up, and a
 * middleware that swaps the serialized JSON body for one the SDK's types
 * would not let a caller write.
 *
 * tests/e2e/test_js_sdk.py runs each *.test.js file with `node --test` and
 * sets, besides the AWS_* variables of a clean client:
 *   ENDPOINT_URL          http://127.0.0.1:PORT of the daemon
 *   ENDPOINTD_JS_PREFIX   what every endpoint these tests make starts with
 *   ENDPOINTD_ACCOUNT     the daemon's account id (for ARNs)
 *   ENDPOINTD_REGION      and its region
 */
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { SageMakerClient } = require('@aws-sdk/client-sagemaker');
const { SageMakerRuntimeClient } = require('@aws-sdk/client-sagemaker-runtime');

function setting(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set (run these tests through tests/e2e/test_js_sdk.py)`);
  return value;
}

const ENDPOINT_URL = setting('ENDPOINT_URL');
const PREFIX = setting('ENDPOINTD_JS_PREFIX');
const ACCOUNT = setting('ENDPOINTD_ACCOUNT');
const REGION = setting('ENDPOINTD_REGION');

// A test's own bound; a waiter's bound (seconds) stays below it.
const TEST_TIMEOUT_MS = 60000;
const WAIT = { minDelay: 0.2, maxDelay: 1, maxWaitTime: 45 };

// What every client shares: dummy credentials, no retries (a retry would
// hide a wrong first answer), a bound on every request.
function clientConfig(extra) {
  return {
    endpoint: ENDPOINT_URL,
    region: REGION,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 30000 },
    ...extra,
  };
}

function controlClient(extra) {
  return new SageMakerClient(clientConfig(extra));
}

function runtimeClient(extra) {
  return new SageMakerRuntimeClient(clientConfig(extra));
}

// A fresh endpoint name under the session's prefix.
function uniqueName(what) {
  return `${PREFIX}-${what}-${crypto.randomBytes(2).toString('hex')}`;
}

function endpointArn(name) {
  return `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/${name}`;
}

/*
 * Adds a build-step middleware to client that replaces the request's JSON
 * body with edit(parsed body); the request is signed after it, as the SDK
 * would sign any body.  Returns a function that removes it again.
 */
function editJsonBody(client, edit) {
  const name = `endpointd-edit-body-${crypto.randomBytes(4).toString('hex')}`;
  client.middlewareStack.add(
    (next) => async (args) => {
      const body = JSON.parse(args.request.body);
      args.request.body = JSON.stringify(edit(body));
      args.request.headers['content-length'] = String(Buffer.byteLength(args.request.body));
      return next(args);
    },
    { step: 'build', name },
  );
  return () => client.middlewareStack.remove(name);
}

/*
 * Adds a deserialize-step middleware that hands every raw HTTP response
 * (headers as the SDK sees them) to seen(), errors included.
 */
function watchResponses(client, seen) {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        const out = await next(args);
        seen(out.response);
        return out;
      } catch (e) {
        if (e.$response) seen(e.$response);
        throw e;
      }
    },
    { step: 'deserialize', name: `endpointd-watch-${crypto.randomBytes(4).toString('hex')}` },
  );
}

module.exports = {
  ACCOUNT,
  ENDPOINT_URL,
  REGION,
  TEST_TIMEOUT_MS,
  WAIT,
  controlClient,
  editJsonBody,
  endpointArn,
  runtimeClient,
  uniqueName,
  watchResponses,
};
