'use strict';
/*
 * The JavaScript SDK's signer against a daemon that checks signatures.
 *
 * These tests need a daemon with keys: tests/e2e/test_auth.py starts one
 * and runs this file with, besides support.js's settings,
 *   ENDPOINTD_AUTH_KEYS            {"admin": {accessKeyId, secretAccessKey},
 *                                  "pipeline-a": {…}} (see test_auth.py)
 *   ENDPOINTD_AUTH_ENDPOINT        an InService endpoint pipeline-a may invoke
 *   ENDPOINTD_AUTH_OTHER_ENDPOINT  a name it may not
 * Run without them (tests/e2e/test_js_sdk.py runs every file against a
 * daemon without keys), they skip.
 */
const { after, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const sm = require('@aws-sdk/client-sagemaker');
const rt = require('@aws-sdk/client-sagemaker-runtime');
const { ACCOUNT, REGION, TEST_TIMEOUT_MS, controlClient, runtimeClient, watchResponses } =
  require('./support');

const KEYS = process.env.ENDPOINTD_AUTH_KEYS ? JSON.parse(process.env.ENDPOINTD_AUTH_KEYS) : null;
const ENDPOINT = process.env.ENDPOINTD_AUTH_ENDPOINT;
const OTHER = process.env.ENDPOINTD_AUTH_OTHER_ENDPOINT;
const skip = KEYS ? false : 'needs a daemon with keys (tests/e2e/test_auth.py)';

const OCTET = 'application/octet-stream';
const BAD_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function arn(name) {
  return `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/${name}`;
}

function as(key, extra) {
  return { credentials: KEYS[key], ...extra };
}

// An error the SDK made of a refusal.
function assertRefused(e, name, status, message) {
  assert.equal(e.name, name, `${e.name}: ${e.message}`);
  assert.equal(e.$metadata.httpStatusCode, status);
  if (message !== undefined) assert.equal(e.message, message);
}

/*
 * Adds a deserialize-step middleware, which runs after the request was
 * signed, that lets edit() change the request as it goes.
 */
function afterSigning(client, edit) {
  client.middlewareStack.add(
    (next) => async (args) => {
      edit(args.request);
      return next(args);
    },
    { step: 'deserialize', name: 'endpointd-after-signing' },
  );
}

describe('signed requests', { skip, timeout: TEST_TIMEOUT_MS }, () => {
  const clients = [];
  const make = (f, key, extra) => {
    const c = f(as(key, extra));
    clients.push(c);
    return c;
  };
  after(() => clients.forEach((c) => c.destroy()));

  it('the right key describes and invokes', async () => {
    const admin = make(controlClient, 'admin');
    const d = await admin.send(new sm.DescribeEndpointCommand({ EndpointName: ENDPOINT }));
    assert.equal(d.EndpointStatus, 'InService');
    const pipeline = make(runtimeClient, 'pipeline-a');
    const r = await pipeline.send(
      new rt.InvokeEndpointCommand({
        EndpointName: ENDPOINT, Body: 'from js', ContentType: OCTET, Accept: OCTET,
      }),
    );
    assert.equal(Buffer.from(r.Body).toString(), 'from js');
  });

  it('a wrong secret is an InvalidSignatureException, on both APIs', async () => {
    const wrong = { ...KEYS.admin, secretAccessKey: 'wrong' };
    const control = make(controlClient, 'admin', { credentials: wrong });
    await assert.rejects(control.send(new sm.ListEndpointsCommand({})), (e) => {
      assertRefused(e, 'InvalidSignatureException', 403, BAD_SIGNATURE);
      return true;
    });
    const runtime = make(runtimeClient, 'admin', { credentials: wrong });
    await assert.rejects(
      runtime.send(new rt.InvokeEndpointCommand({ EndpointName: ENDPOINT, Body: 'x' })),
      (e) => {
        assertRefused(e, 'InvalidSignatureException', 403, BAD_SIGNATURE);
        return true;
      },
    );
  });

  it('a key limited to invoking team-a-* is denied anything else', async () => {
    const control = make(controlClient, 'pipeline-a');
    await assert.rejects(control.send(new sm.DescribeEndpointCommand({ EndpointName: ENDPOINT })), (e) => {
      assertRefused(e, 'AccessDeniedException', 400,
        `User: pipeline-a is not authorized to perform: sagemaker:DescribeEndpoint on resource: ${arn(ENDPOINT)}`);
      return true;
    });
    const runtime = make(runtimeClient, 'pipeline-a');
    await assert.rejects(runtime.send(new rt.InvokeEndpointCommand({ EndpointName: OTHER, Body: 'x' })), (e) => {
      assertRefused(e, 'AccessDeniedException', 403,
        `User: pipeline-a is not authorized to perform: sagemaker:InvokeEndpoint on resource: ${arn(OTHER)}`);
      return true;
    });
  });

  it('sends x-amz-content-sha256, and a body changed under it is refused', async () => {
    const runtime = make(runtimeClient, 'pipeline-a');
    const sent = [];
    afterSigning(runtime, (request) => {
      sent.push(request.headers['x-amz-content-sha256']);
      request.body = 'changed';
      request.headers['content-length'] = String(Buffer.byteLength('changed'));
    });
    await assert.rejects(
      runtime.send(new rt.InvokeEndpointCommand({ EndpointName: ENDPOINT, Body: 'original', ContentType: 'text/plain' })),
      (e) => {
        assert.equal(e.$metadata.httpStatusCode, 403, `${e.name}: ${e.message}`);
        assert.equal(e.name, 'InvalidSignatureException', `${e.name}: ${e.message}`);
        return true;
      },
    );
    assert.match(sent[0] || '', /^[0-9a-f]{64}$/, 'the SDK sent no x-amz-content-sha256');
  });

  it('a clock 20 minutes behind is refused as expired, then corrected from Date', async () => {
    const skewMs = -20 * 60 * 1000;
    const control = make(controlClient, 'admin', { systemClockOffset: skewMs });
    let date = null;
    watchResponses(control, (response) => {
      date = response.headers.date;
    });
    await assert.rejects(control.send(new sm.DescribeEndpointCommand({ EndpointName: ENDPOINT })), (e) => {
      assertRefused(e, 'InvalidSignatureException', 403);
      assert.match(e.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z/);
      assert.equal(e.$metadata.clockSkewCorrected, true);
      return true;
    });
    assert.ok(date, 'the refusal carried no Date');
    assert.ok(Math.abs(control.config.systemClockOffset) < 60 * 1000, `offset ${control.config.systemClockOffset}`);
    const d = await control.send(new sm.DescribeEndpointCommand({ EndpointName: ENDPOINT }));
    assert.equal(d.EndpointStatus, 'InService');
  });
});
