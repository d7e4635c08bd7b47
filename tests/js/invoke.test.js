'use strict';
/*
 * The runtime through @aws-sdk/client-sagemaker-runtime: InvokeEndpoint's
 * body, headers and variant routing, and a model's error as the SDK's
 * ModelError.
 */
const { after, before, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const sm = require('@aws-sdk/client-sagemaker');
const rt = require('@aws-sdk/client-sagemaker-runtime');
const { ACCOUNT, TEST_TIMEOUT_MS, WAIT, controlClient, runtimeClient, uniqueName } = require('./support');

const OCTET = 'application/octet-stream';
const ATTRS = 'trace-id=5c1f,mode=test';

describe('InvokeEndpoint', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  const control = controlClient();
  const runtime = runtimeClient();
  // weighted-config: variants Heavy and Light; invoke-500-config: a model
  // that answers every invocation with 500 "demo-model error 500".
  const routed = uniqueName('inv');
  const failing = uniqueName('inv500');

  before(async () => {
    const configs = { [routed]: 'weighted-config', [failing]: 'invoke-500-config' };
    for (const [n, c] of Object.entries(configs))
      await control.send(new sm.CreateEndpointCommand({ EndpointName: n, EndpointConfigName: c }));
    for (const n of Object.keys(configs))
      await sm.waitUntilEndpointInService({ client: control, ...WAIT }, { EndpointName: n });
  });
  after(async () => {
    for (const n of [routed, failing]) {
      try {
        await control.send(new sm.DeleteEndpointCommand({ EndpointName: n }));
      } catch {
        // left to the harness
      }
    }
    control.destroy();
    runtime.destroy();
  });

  it('echoes a binary body byte for byte with every member set', async () => {
    const body = crypto.randomBytes(50000);
    const r = await runtime.send(
      new rt.InvokeEndpointCommand({
        EndpointName: routed,
        Body: body,
        ContentType: OCTET,
        Accept: OCTET,
        CustomAttributes: ATTRS,
        TargetVariant: 'Light',
      }),
    );
    assert.ok(r.Body instanceof Uint8Array, 'Body is not a Uint8Array');
    assert.ok(Buffer.from(r.Body).equals(body), `got ${r.Body.length} bytes that differ`);
    assert.equal(r.ContentType, OCTET);
    assert.equal(r.CustomAttributes, ATTRS);
    assert.equal(r.InvokedProductionVariant, 'Light');
    assert.equal(r.$metadata.httpStatusCode, 200);
  });

  it('passes ContentType, Accept and the target variant to the model', async () => {
    const body = '1,2,3\n4,5,6\n';
    const r = await runtime.send(
      new rt.InvokeEndpointCommand({
        EndpointName: routed,
        Body: body,
        ContentType: 'text/csv',
        Accept: 'application/json',
        TargetVariant: 'Heavy',
      }),
    );
    assert.equal(r.ContentType, 'application/json');
    assert.equal(r.InvokedProductionVariant, 'Heavy');
    const got = JSON.parse(r.Body.transformToString());
    assert.equal(got.content_type, 'text/csv');
    assert.equal(got.accept, 'application/json');
    assert.equal(got.variant, 'Heavy');
    assert.equal(got.length, Buffer.byteLength(body));
    assert.equal(got.sha256, crypto.createHash('sha256').update(body).digest('hex'));
    assert.equal(r.CustomAttributes, undefined);
  });

  it('names the variant that answered when none was asked for', async () => {
    const r = await runtime.send(
      new rt.InvokeEndpointCommand({ EndpointName: routed, Body: 'x', ContentType: 'text/plain' }),
    );
    assert.ok(['Heavy', 'Light'].includes(r.InvokedProductionVariant), r.InvokedProductionVariant);
    assert.equal(JSON.parse(r.Body.transformToString()).variant, r.InvokedProductionVariant);
  });

  it("a model's 500 is a ModelError with OriginalStatusCode and OriginalMessage", async () => {
    const call = new rt.InvokeEndpointCommand({ EndpointName: failing, Body: 'x', ContentType: OCTET });
    await assert.rejects(runtime.send(call), (e) => {
      assert.ok(e instanceof rt.ModelError, `${e.name}: ${e.message}`);
      assert.equal(e.name, 'ModelError');
      assert.equal(e.$fault, 'client');
      assert.equal(e.$metadata.httpStatusCode, 424);
      assert.strictEqual(e.OriginalStatusCode, 500);
      assert.equal(e.OriginalMessage, 'demo-model error 500');
      assert.ok(
        e.message.startsWith('Received server error (500) from primary with message "demo-model error 500"'),
        e.message,
      );
      return true;
    });
  });

  it('an unknown endpoint is a ValidationError naming it and the account', async () => {
    const name = uniqueName('nope');
    const call = new rt.InvokeEndpointCommand({ EndpointName: name, Body: 'x', ContentType: OCTET });
    await assert.rejects(runtime.send(call), (e) => {
      assert.ok(e instanceof rt.ValidationError, `${e.name}: ${e.message}`);
      assert.equal(e.message, `Endpoint ${name} of account ${ACCOUNT} not found.`);
      assert.equal(e.$metadata.httpStatusCode, 400);
      assert.equal(e.$fault, 'client');
      return true;
    });
  });
});
