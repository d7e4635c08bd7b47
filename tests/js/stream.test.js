'use strict';
/*
 * InvokeEndpointWithResponseStream through @aws-sdk/client-sagemaker-runtime:
 * every PayloadPart in order, the production variant, and a model that fails
 * mid-stream as the SDK's ModelStreamError.
 */
const { after, before, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const sm = require('@aws-sdk/client-sagemaker');
const rt = require('@aws-sdk/client-sagemaker-runtime');
const { TEST_TIMEOUT_MS, WAIT, controlClient, runtimeClient, uniqueName } = require('./support');

// The demo model's streaming mode: "token 1 ", "token 2 ", ... one chunk each.
function tokens(n) {
  let s = '';
  for (let i = 1; i <= n; i++) s += `token ${i} `;
  return s;
}

describe('InvokeEndpointWithResponseStream', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  const control = controlClient();
  const runtime = runtimeClient();
  // stream-config: 5 tokens 20 ms apart; stream-weighted-config: Heavy (3
  // tokens) and Light (4); stream-fail-config: the model breaks after 2.
  const streaming = uniqueName('str');
  const weighted = uniqueName('strw');
  const failing = uniqueName('strf');

  before(async () => {
    const configs = {
      [streaming]: 'stream-config',
      [weighted]: 'stream-weighted-config',
      [failing]: 'stream-fail-config',
    };
    for (const [n, c] of Object.entries(configs))
      await control.send(new sm.CreateEndpointCommand({ EndpointName: n, EndpointConfigName: c }));
    for (const n of Object.keys(configs))
      await sm.waitUntilEndpointInService({ client: control, ...WAIT }, { EndpointName: n });
  });
  after(async () => {
    for (const n of [streaming, weighted, failing]) {
      try {
        await control.send(new sm.DeleteEndpointCommand({ EndpointName: n }));
      } catch {
        // left to the harness
      }
    }
    control.destroy();
    runtime.destroy();
  });

  // Every event of the answer's Body, as the SDK hands them out.
  async function collect(input) {
    const r = await runtime.send(new rt.InvokeEndpointWithResponseStreamCommand(input));
    const parts = [];
    for await (const event of r.Body) {
      assert.ok(event.PayloadPart, `not a PayloadPart: ${JSON.stringify(Object.keys(event))}`);
      parts.push(Buffer.from(event.PayloadPart.Bytes).toString());
    }
    return { r, parts };
  }

  it('reads every PayloadPart in order', async () => {
    const { r, parts } = await collect({
      EndpointName: streaming,
      Body: 'hello',
      ContentType: 'text/plain',
    });
    assert.deepEqual(parts, [1, 2, 3, 4, 5].map((i) => `token ${i} `));
    assert.equal(r.ContentType, 'text/plain');
    assert.equal(r.InvokedProductionVariant, 'AllTraffic');
    assert.equal(r.$metadata.httpStatusCode, 200);
  });

  it('sees the production variant it targeted', async () => {
    for (const [variant, n] of [['Heavy', 3], ['Light', 4]]) {
      const { r, parts } = await collect({
        EndpointName: weighted,
        Body: 'x',
        TargetVariant: variant,
      });
      assert.equal(r.InvokedProductionVariant, variant);
      assert.equal(parts.join(''), tokens(n));
    }
  });

  it('gets ModelStreamError from a model that fails mid-stream', async () => {
    const r = await runtime.send(
      new rt.InvokeEndpointWithResponseStreamCommand({ EndpointName: failing, Body: 'x' }),
    );
    const parts = [];
    await assert.rejects(
      (async () => {
        for await (const event of r.Body) parts.push(Buffer.from(event.PayloadPart.Bytes).toString());
      })(),
      (e) => {
        assert.equal(e.name, 'ModelStreamError');
        assert.equal(e.ErrorCode, 'StreamBroken');
        assert.match(e.Message ?? e.message, /primary/);
        return true;
      },
    );
    assert.equal(parts.join(''), tokens(2));
  });

  it('gets ValidationError for an endpoint that does not exist', async () => {
    const name = uniqueName('nosuch');
    await assert.rejects(
      runtime.send(new rt.InvokeEndpointWithResponseStreamCommand({ EndpointName: name, Body: 'x' })),
      (e) => {
        assert.equal(e.name, 'ValidationError');
        assert.equal(e.$metadata.httpStatusCode, 400);
        return true;
      },
    );
  });
});
