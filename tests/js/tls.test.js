'use strict';
/*
 * The JavaScript SDK over TLS: clients whose https.Agent trusts the test's
 * own CA, given to them through NodeHttpHandler.
 *
 * tests/integration/test_tls.py runs this file against a daemon's TLS
 * listener with, besides support.js's settings (ENDPOINT_URL is https://):
 *   ENDPOINTD_TLS_CA           the CA certificate's file
 *   ENDPOINTD_TLS_ENDPOINT     an InService endpoint that echoes its body
 *   ENDPOINTD_TLS_CREDENTIALS  {accessKeyId, secretAccessKey} of a key the
 *                              daemon knows (optional: support.js's dummy
 *                              ones otherwise)
 * Run without them (tests/e2e/test_js_sdk.py runs every file against a
 * plain HTTP daemon), they skip.
 */
const { after, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const { NodeHttpHandler } = require('@smithy/node-http-handler');
const sm = require('@aws-sdk/client-sagemaker');
const rt = require('@aws-sdk/client-sagemaker-runtime');
const { TEST_TIMEOUT_MS, controlClient, runtimeClient } = require('./support');

const CA = process.env.ENDPOINTD_TLS_CA;
const ENDPOINT = process.env.ENDPOINTD_TLS_ENDPOINT;
const CREDENTIALS = process.env.ENDPOINTD_TLS_CREDENTIALS
  ? JSON.parse(process.env.ENDPOINTD_TLS_CREDENTIALS)
  : null;
const skip = CA ? false : 'needs a daemon with a TLS listener (tests/integration/test_tls.py)';

const OCTET = 'application/octet-stream';

describe('over TLS', { skip, timeout: TEST_TIMEOUT_MS }, () => {
  const agent = CA ? new https.Agent({ ca: fs.readFileSync(CA), keepAlive: true }) : null;
  const clients = [];
  const make = (f, handler) => {
    const c = f({
      ...(CREDENTIALS ? { credentials: CREDENTIALS } : {}),
      requestHandler: handler,
    });
    clients.push(c);
    return c;
  };
  const trusting = () =>
    new NodeHttpHandler({ httpsAgent: agent, connectionTimeout: 5000, requestTimeout: 30000 });
  after(() => {
    clients.forEach((c) => c.destroy());
    if (agent) agent.destroy();
  });

  it('lists and describes endpoints', async () => {
    const c = make(controlClient, trusting());
    const list = await c.send(new sm.ListEndpointsCommand({ NameContains: ENDPOINT }));
    assert.deepEqual(list.Endpoints.map((e) => e.EndpointName), [ENDPOINT]);
    const d = await c.send(new sm.DescribeEndpointCommand({ EndpointName: ENDPOINT }));
    assert.equal(d.EndpointStatus, 'InService');
  });

  it('invokes an endpoint, twice on one kept-alive connection', async () => {
    const c = make(runtimeClient, trusting());
    for (const body of ['from js over tls', 'and again']) {
      const r = await c.send(
        new rt.InvokeEndpointCommand({
          EndpointName: ENDPOINT, Body: body, ContentType: OCTET, Accept: OCTET,
        }),
      );
      assert.equal(Buffer.from(r.Body).toString(), body);
    }
  });

  it('refuses the certificate without the CA', async () => {
    const c = make(
      controlClient,
      new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30000 }),
    );
    await assert.rejects(c.send(new sm.ListEndpointsCommand({})), (e) => {
      assert.match(String(e.code), /ISSUER|CERT|SIGNATURE/, `${e.code}: ${e.message}`);
      return true;
    });
  });
});
