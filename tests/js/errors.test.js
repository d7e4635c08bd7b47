'use strict';
/*
 * Errors as @aws-sdk/client-sagemaker surfaces them, and the Date header
 * that it corrects its clock with.  The SDK checks no member on the client
 * side, so what is refused here is refused by the daemon; a member of the
 * wrong type (which the SDK's types would not let through) is written into
 * the serialized body by a middleware.
 */
const { after, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const sm = require('@aws-sdk/client-sagemaker');
const rt = require('@aws-sdk/client-sagemaker-runtime');
const {
  ACCOUNT,
  REGION,
  controlClient,
  editJsonBody,
  endpointArn,
  runtimeClient,
  uniqueName,
  watchResponses,
} = require('./support');

// RFC 9110's IMF-fixdate, the only form a server may send.
const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;
// The SDK's own rule: a clock more than 5 minutes off is corrected.
const SKEW_MS = 60 * 60 * 1000;

// An error the SDK made of a 400 answer: a client fault with a request id.
function assertClientFault(e, name) {
  assert.ok(e instanceof sm.SageMakerServiceException, `not a SageMakerServiceException: ${e}`);
  assert.equal(e.name, name, `${e.name}: ${e.message}`);
  assert.equal(e.$fault, 'client');
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.ok(e.$metadata.requestId, 'no request id');
}

// The names of the endpoints whose name contains s.
async function endpointsNamed(client, s) {
  const r = await client.send(new sm.ListEndpointsCommand({ NameContains: s }));
  return r.Endpoints.map((e) => e.EndpointName);
}

describe('control-plane errors', () => {
  const client = controlClient();
  after(() => client.destroy());

  it('DescribeEndpoint of a missing endpoint is a ValidationException naming its ARN', async () => {
    const name = uniqueName('missing');
    await assert.rejects(client.send(new sm.DescribeEndpointCommand({ EndpointName: name })), (e) => {
      assertClientFault(e, 'ValidationException');
      assert.equal(e.message, `Could not find endpoint "${endpointArn(name)}".`);
      return true;
    });
  });

  it('DeleteEndpoint of a missing endpoint is a ValidationException naming its ARN', async () => {
    const name = uniqueName('missing');
    await assert.rejects(client.send(new sm.DeleteEndpointCommand({ EndpointName: name })), (e) => {
      assertClientFault(e, 'ValidationException');
      assert.equal(e.message, `Could not find endpoint "${endpointArn(name)}".`);
      return true;
    });
  });

  it('CreateEndpoint with a bad name is a ValidationException for endpointName', async () => {
    const base = uniqueName('bad');
    const name = `${base}_name`;
    await assert.rejects(
      client.send(new sm.CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'demo-config' })),
      (e) => {
        assertClientFault(e, 'ValidationException');
        assert.match(e.message, /^1 validation error detected: /);
        assert.ok(
          e.message.includes(`Value '${name}' at 'endpointName' failed to satisfy constraint`),
          e.message,
        );
        return true;
      },
    );
    assert.deepEqual(await endpointsNamed(client, base), []);
  });

  it('CreateEndpoint with an unknown config is a ValidationException naming the config ARN', async () => {
    const name = uniqueName('noconf');
    const config = `${name}-config`;
    await assert.rejects(
      client.send(new sm.CreateEndpointCommand({ EndpointName: name, EndpointConfigName: config })),
      (e) => {
        assertClientFault(e, 'ValidationException');
        const arn = `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint-config/${config}`;
        assert.equal(e.message, `Could not find endpoint configuration "${arn}".`);
        return true;
      },
    );
    assert.deepEqual(await endpointsNamed(client, name), []);
  });

  it('ListEndpoints with MaxResults over 100 is a ValidationException for maxResults', async () => {
    await assert.rejects(client.send(new sm.ListEndpointsCommand({ MaxResults: 101 })), (e) => {
      assertClientFault(e, 'ValidationException');
      assert.ok(e.message.includes("at 'maxResults' failed to satisfy constraint"), e.message);
      return true;
    });
  });

  it('an EndpointName that is a number is a SerializationException and creates nothing', async () => {
    const name = uniqueName('type');
    const own = controlClient();
    editJsonBody(own, (body) => ({ ...body, EndpointName: 123 }));
    try {
      await assert.rejects(
        own.send(new sm.CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'demo-config' })),
        (e) => {
          assertClientFault(e, 'SerializationException');
          assert.ok(e.message, 'no message');
          return true;
        },
      );
    } finally {
      own.destroy();
    }
    assert.deepEqual(await endpointsNamed(client, name), []);
  });

  it('Tags that are an object, not a list, are a SerializationException', async () => {
    const name = uniqueName('type');
    const own = controlClient();
    editJsonBody(own, (body) => ({ ...body, Tags: { Key: 'k', Value: 'v' } }));
    try {
      await assert.rejects(
        own.send(new sm.CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'demo-config' })),
        (e) => {
          assertClientFault(e, 'SerializationException');
          return true;
        },
      );
    } finally {
      own.destroy();
    }
    assert.deepEqual(await endpointsNamed(client, name), []);
  });
});

describe('the Date header', () => {
  it('is on every answer, in IMF-fixdate, close to this clock', async () => {
    const client = controlClient();
    const dates = [];
    watchResponses(client, (r) => dates.push(r.headers.date));
    try {
      await client.send(new sm.ListEndpointsCommand({}));
      await assert.rejects(client.send(new sm.DescribeEndpointCommand({ EndpointName: uniqueName('missing') })));
    } finally {
      client.destroy();
    }
    assert.equal(dates.length, 2);
    for (const d of dates) {
      assert.match(d ?? '', IMF_FIXDATE);
      assert.ok(Math.abs(Date.parse(d) - Date.now()) < 5000, d);
    }
  });

  it('corrects a control-plane client whose clock is an hour off', async () => {
    const client = controlClient({ systemClockOffset: SKEW_MS });
    try {
      await client.send(new sm.ListEndpointsCommand({}));
      assert.ok(Math.abs(client.config.systemClockOffset) < 5000, `offset ${client.config.systemClockOffset} ms`);
    } finally {
      client.destroy();
    }
  });

  it('on an error answer, corrects the clock and says so', async () => {
    const client = controlClient({ systemClockOffset: SKEW_MS });
    try {
      const missing = new sm.DescribeEndpointCommand({ EndpointName: uniqueName('missing') });
      await assert.rejects(client.send(missing), (e) => {
        assert.equal(e.name, 'ValidationException');
        assert.equal(e.$metadata.clockSkewCorrected, true);
        return true;
      });
      assert.ok(Math.abs(client.config.systemClockOffset) < 5000, `offset ${client.config.systemClockOffset} ms`);
    } finally {
      client.destroy();
    }
  });

  it('corrects a runtime client whose clock is an hour off', async () => {
    const client = runtimeClient({ systemClockOffset: -SKEW_MS });
    try {
      await assert.rejects(
        client.send(new rt.InvokeEndpointCommand({ EndpointName: uniqueName('missing'), Body: 'x' })),
        { name: 'ValidationError' },
      );
      assert.ok(Math.abs(client.config.systemClockOffset) < 5000, `offset ${client.config.systemClockOffset} ms`);
    } finally {
      client.destroy();
    }
  });
});
