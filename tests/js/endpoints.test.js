'use strict';
/*
 * The control plane through @aws-sdk/client-sagemaker: an endpoint's whole
 * life with the SDK's own waiters, and ListEndpoints with its paginator.
 */
const { after, before, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const sm = require('@aws-sdk/client-sagemaker');
const { TEST_TIMEOUT_MS, WAIT, controlClient, endpointArn, uniqueName } = require('./support');

const SHA256_IMAGE = /@sha256:[0-9a-f]{64}$/;

// A Date the SDK parsed from the wire, within a few minutes of now.
function assertRecentDate(v, what) {
  assert.ok(v instanceof Date, `${what} is a ${typeof v}, not a Date: ${v}`);
  assert.ok(!Number.isNaN(v.getTime()), `${what} is an invalid Date`);
  assert.ok(Math.abs(Date.now() - v.getTime()) < 5 * 60 * 1000, `${what} is ${v.toISOString()}`);
}

describe('an endpoint through its life', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  const client = controlClient();
  const name = uniqueName('life');
  let created;
  let described;

  before(async () => {
    created = await client.send(
      new sm.CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'demo-config' }),
    );
  });
  after(() => client.destroy());

  it('CreateEndpoint answers the endpoint ARN', () => {
    assert.equal(created.EndpointArn, endpointArn(name));
    assert.equal(created.$metadata.httpStatusCode, 200);
    assert.ok(created.$metadata.requestId, 'no request id');
  });

  it('waitUntilEndpointInService returns once it is InService', { timeout: TEST_TIMEOUT_MS }, async () => {
    const r = await sm.waitUntilEndpointInService({ client, ...WAIT }, { EndpointName: name });
    assert.equal(r.state, 'SUCCESS');
    described = await client.send(new sm.DescribeEndpointCommand({ EndpointName: name }));
    assert.equal(described.EndpointStatus, 'InService');
  });

  it('DescribeEndpoint names the endpoint, its ARN and its config', () => {
    assert.equal(described.EndpointName, name);
    assert.equal(described.EndpointArn, endpointArn(name));
    assert.equal(described.EndpointConfigName, 'demo-config');
    assert.equal(described.FailureReason, undefined);
  });

  it('DescribeEndpoint times parse as Dates', () => {
    assertRecentDate(described.CreationTime, 'CreationTime');
    assertRecentDate(described.LastModifiedTime, 'LastModifiedTime');
    assert.ok(described.LastModifiedTime >= described.CreationTime);
  });

  it('DescribeEndpoint variants have counts and weights as numbers', () => {
    assert.equal(described.ProductionVariants.length, 1);
    const v = described.ProductionVariants[0];
    assert.equal(v.VariantName, 'AllTraffic');
    assert.strictEqual(v.CurrentInstanceCount, 1);
    assert.strictEqual(v.DesiredInstanceCount, 1);
    assert.strictEqual(v.CurrentWeight, 1);
    assert.strictEqual(v.DesiredWeight, 1);
  });

  it('DescribeEndpoint deployed images are resolved to a digest', () => {
    const img = described.ProductionVariants[0].DeployedImages[0];
    assert.equal(typeof img.SpecifiedImage, 'string');
    assert.ok(img.SpecifiedImage.length > 0);
    assert.match(img.ResolvedImage, SHA256_IMAGE);
    assertRecentDate(img.ResolutionTime, 'ResolutionTime');
  });

  it('CreateEndpoint of the same name fails with ValidationException', async () => {
    await assert.rejects(
      client.send(new sm.CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'demo-config' })),
      (e) => {
        assert.equal(e.name, 'ValidationException');
        assert.equal(e.message, `Cannot create already existing endpoint "${endpointArn(name)}".`);
        assert.equal(e.$metadata.httpStatusCode, 400);
        return true;
      },
    );
  });

  const deleted = 'DeleteEndpoint then waitUntilEndpointDeleted returns once it is gone';
  it(deleted, { timeout: TEST_TIMEOUT_MS }, async () => {
    const r = await client.send(new sm.DeleteEndpointCommand({ EndpointName: name }));
    assert.equal(r.$metadata.httpStatusCode, 200);
    const w = await sm.waitUntilEndpointDeleted({ client, ...WAIT }, { EndpointName: name });
    assert.equal(w.state, 'SUCCESS');
    await assert.rejects(client.send(new sm.DescribeEndpointCommand({ EndpointName: name })), {
      name: 'ValidationException',
    });
  });
});

describe('an endpoint whose model exits', { timeout: 2 * TEST_TIMEOUT_MS }, () => {
  const client = controlClient();
  after(() => client.destroy());

  it('waitUntilEndpointInService fails as soon as it is Failed', { timeout: TEST_TIMEOUT_MS }, async () => {
    // exit-config: the model exits with code 3 half a second after it starts.
    const name = uniqueName('exit');
    await client.send(new sm.CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'exit-config' }));
    const started = Date.now();
    await assert.rejects(sm.waitUntilEndpointInService({ client, ...WAIT }, { EndpointName: name }), (e) => {
      const result = JSON.parse(e.message);
      assert.equal(result.state, 'FAILURE', e.message);
      assert.equal(result.reason.EndpointStatus, 'Failed');
      assert.ok(result.reason.FailureReason, 'no FailureReason');
      return true;
    });
    assert.ok(Date.now() - started < 30000, `took ${Date.now() - started} ms`);
    await client.send(new sm.DeleteEndpointCommand({ EndpointName: name }));
  });
});

describe('ListEndpoints', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  const client = controlClient();
  const base = uniqueName('list');
  const names = [`${base}-a`, `${base}-b`, `${base}-c`];
  const byName = { NameContains: base, SortBy: 'Name', SortOrder: 'Ascending' };

  before(async () => {
    for (const n of names)
      await client.send(new sm.CreateEndpointCommand({ EndpointName: n, EndpointConfigName: 'demo-config' }));
  });
  after(async () => {
    // Deleting one still Creating may be refused; the harness deletes what is left.
    for (const n of names) {
      try {
        await sm.waitUntilEndpointInService({ client, ...WAIT }, { EndpointName: n });
        await client.send(new sm.DeleteEndpointCommand({ EndpointName: n }));
      } catch {
        // left to the harness
      }
    }
    client.destroy();
  });

  it('NameContains finds exactly the matching endpoints', async () => {
    const r = await client.send(new sm.ListEndpointsCommand(byName));
    assert.deepEqual(r.Endpoints.map((e) => e.EndpointName), names);
    assert.equal(r.NextToken, undefined);
  });

  it('entries carry the ARN, the status and Date times', async () => {
    const r = await client.send(new sm.ListEndpointsCommand({ NameContains: names[0] }));
    assert.equal(r.Endpoints.length, 1);
    const e = r.Endpoints[0];
    assert.equal(e.EndpointArn, endpointArn(names[0]));
    assert.ok(['Creating', 'InService'].includes(e.EndpointStatus), e.EndpointStatus);
    assertRecentDate(e.CreationTime, 'CreationTime');
    assertRecentDate(e.LastModifiedTime, 'LastModifiedTime');
  });

  it('MaxResults and NextToken page through them one at a time', async () => {
    const seen = [];
    let token;
    for (let i = 0; i < names.length; i++) {
      const r = await client.send(new sm.ListEndpointsCommand({ ...byName, MaxResults: 1, NextToken: token }));
      assert.equal(r.Endpoints.length, 1);
      seen.push(r.Endpoints[0].EndpointName);
      token = r.NextToken;
      if (i < names.length - 1) assert.equal(typeof token, 'string', `no NextToken after page ${i + 1}`);
    }
    assert.equal(token, undefined);
    assert.deepEqual(seen, names);
  });

  it('paginateListEndpoints walks every page', async () => {
    const pages = [];
    for await (const page of sm.paginateListEndpoints({ client, pageSize: 2 }, { NameContains: base }))
      pages.push(page.Endpoints.map((e) => e.EndpointName));
    assert.equal(pages.length, 2);
    assert.deepEqual(pages.flat().sort(), names);
  });

  it('the default order is newest first', async () => {
    const r = await client.send(new sm.ListEndpointsCommand({ NameContains: base }));
    const times = r.Endpoints.map((e) => e.CreationTime.getTime());
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
  });
});
