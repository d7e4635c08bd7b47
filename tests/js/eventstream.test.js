'use strict';
/*
 * lib/eventstream.c's frames as the AWS SDK for JavaScript v3 decodes them:
 * tests/eventstream-frames writes the frames for given pieces, and they are
 * read back by the SDK's own event-stream codec and, served by a stand-in
 * HTTP server in this file, by InvokeEndpointWithResponseStreamCommand of
 * @aws-sdk/client-sagemaker-runtime.  No daemon is needed.
 *
 * EVENTSTREAM_FRAMES names the tool (tests/e2e/test_js_sdk.py sets it).
 */
const { after, before, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const http = require('node:http');
const rt = require('@aws-sdk/client-sagemaker-runtime');
const { toUtf8, fromUtf8 } = require('@smithy/util-utf8');

// The codec lives in @smithy/eventstream-codec in older SDKs and in
// @smithy/core's event-streams in the version tests/js pins.
function loadCodec() {
  for (const m of ['@smithy/eventstream-codec', '@smithy/core/event-streams']) {
    try {
      return require(m);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
    }
  }
  throw new Error('no event-stream codec in node_modules');
}
const { EventStreamCodec, getChunkedStream } = loadCodec();

const FRAMES = process.env.EVENTSTREAM_FRAMES;
assert.ok(FRAMES, 'EVENTSTREAM_FRAMES is not set (run through tests/e2e/test_js_sdk.py)');
// lib/eventstream.h's EVENTSTREAM_MAX_PAYLOAD.
const MAX_PAYLOAD = 1 << 20;
const TEST_TIMEOUT_MS = 30000;

// The bytes tests/eventstream-frames writes for pieces.
function frames(...pieces) {
  return execFileSync(FRAMES, pieces, { maxBuffer: 64 << 20 });
}

// The messages in buf, split by their own prelude and decoded (both CRCs
// and the lengths are checked by the codec).
function decodeAll(buf) {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    assert.ok(len >= 16 && off + len <= buf.length, `message at ${off} says ${len} bytes`);
    out.push(codec.decode(new Uint8Array(buf.buffer, buf.byteOffset + off, len)));
    off += len;
  }
  return out;
}

// fill:N's bytes.
function fill(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

// A message's headers as {name: value}, every one a string header.
function stringHeaders(msg) {
  const out = {};
  for (const [name, h] of Object.entries(msg.headers)) {
    assert.equal(h.type, 'string', `header ${name} is a string`);
    out[name] = h.value;
  }
  return out;
}

const PAYLOAD_PART_HEADERS = {
  ':event-type': 'PayloadPart',
  ':content-type': 'application/octet-stream',
  ':message-type': 'event',
};

describe('event-stream frames decoded by EventStreamCodec', { timeout: TEST_TIMEOUT_MS }, () => {
  it('each piece is one PayloadPart with exactly its three headers and its bytes', () => {
    const msgs = decodeAll(frames('text:token 1 ', 'move:token 2 ', 'hex:00ff80c30a00', 'text:h\u00e9llo \u20ac'));
    assert.equal(msgs.length, 4);
    for (const m of msgs) assert.deepEqual(stringHeaders(m), PAYLOAD_PART_HEADERS);
    assert.deepEqual(Buffer.from(msgs[0].body), Buffer.from('token 1 '));
    assert.deepEqual(Buffer.from(msgs[1].body), Buffer.from('token 2 '));
    assert.deepEqual(Buffer.from(msgs[2].body), Buffer.from([0, 0xff, 0x80, 0xc3, 0x0a, 0]));
    assert.deepEqual(Buffer.from(msgs[3].body), Buffer.from('h\u00e9llo \u20ac'));
  });

  it('a piece over the largest payload arrives as PayloadParts in order that join to it', () => {
    const n = 2 * MAX_PAYLOAD + 3;
    const msgs = decodeAll(frames(`fill:${n}`));
    assert.deepEqual(msgs.map((m) => m.body.length), [MAX_PAYLOAD, MAX_PAYLOAD, 3]);
    for (const m of msgs) assert.deepEqual(stringHeaders(m), PAYLOAD_PART_HEADERS);
    assert.ok(Buffer.concat(msgs.map((m) => Buffer.from(m.body))).equals(fill(n)));
  });

  it('ModelStreamError is an exception message with its Message and ErrorCode in JSON', () => {
    const [m] = decodeAll(frames('model-error:StreamBroken:Model exited "mid" stream'));
    assert.deepEqual(stringHeaders(m), {
      ':exception-type': 'ModelStreamError',
      ':content-type': 'application/json',
      ':message-type': 'exception',
    });
    assert.deepEqual(JSON.parse(toUtf8(m.body)), {
      Message: 'Model exited "mid" stream',
      ErrorCode: 'StreamBroken',
    });
  });

  it('InternalStreamFailure is an exception message with its Message only', () => {
    const [m] = decodeAll(frames('internal-failure:could not go on'));
    assert.deepEqual(stringHeaders(m), {
      ':exception-type': 'InternalStreamFailure',
      ':content-type': 'application/json',
      ':message-type': 'exception',
    });
    assert.deepEqual(JSON.parse(toUtf8(m.body)), { Message: 'could not go on' });
  });

  it("the SDK's chunked reader reassembles the frames fed a few bytes at a time", async () => {
    const small = frames('text:a', 'text:bc', 'model-error:StreamBroken:m');
    const big = frames('text:a', 'text:bc', `fill:${MAX_PAYLOAD + 1}`, 'model-error:StreamBroken:m');
    for (const [buf, step, count] of [[small, 1, 3], [small, 7, 3], [big, 4093, 5]]) {
      async function* pieces() {
        for (let i = 0; i < buf.length; i += step) yield new Uint8Array(buf.subarray(i, i + step));
      }
      const codec = new EventStreamCodec(toUtf8, fromUtf8);
      const got = [];
      for await (const whole of getChunkedStream(pieces())) got.push(codec.decode(whole));
      assert.equal(got.length, count, `${got.length} messages with ${step}-byte reads`);
      assert.deepEqual(Buffer.from(got[0].body), Buffer.from('a'));
      assert.deepEqual(Buffer.from(got[1].body), Buffer.from('bc'));
      assert.equal(stringHeaders(got[count - 1])[':exception-type'], 'ModelStreamError');
    }
  });

  it('a frame with one payload byte changed is refused by its CRC', () => {
    const buf = Buffer.from(frames('text:token'));
    buf[buf.length - 5] ^= 1;
    assert.throws(() => decodeAll(buf), /checksum/);
  });
});

// A stand-in for the runtime: answers every call with the bytes given, cut
// into pieces that do not follow the frames' boundaries.
function serve(body) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      server.lastRequest = { method: req.method, url: req.url };
      res.writeHead(200, {
        'Content-Type': 'application/vnd.amazon.eventstream',
        'x-Amzn-Invoked-Production-Variant': 'AllTraffic',
        'X-Amzn-SageMaker-Content-Type': 'text/plain',
      });
      let off = 0;
      const step = body.length > 65536 ? 65521 : 13;
      const next = () => {
        if (off >= body.length) return res.end();
        res.write(body.subarray(off, off + step));
        off += step;
        setImmediate(next);
      };
      next();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Invokes through the SDK against server and reads the answer's events
// until their end or an exception.  The SDK reads the first event before
// it answers, so an exception there rejects the call itself.
async function invokeAndRead(server) {
  const client = new rt.SageMakerRuntimeClient({
    endpoint: `http://127.0.0.1:${server.address().port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const events = [];
  let answer = null;
  try {
    answer = await client.send(
      new rt.InvokeEndpointWithResponseStreamCommand({ EndpointName: 'demo', Body: Buffer.from('{}') }),
    );
    for await (const ev of answer.Body) events.push(ev);
  } catch (e) {
    return { answer, events, error: e };
  } finally {
    client.destroy();
  }
  return { answer, events, error: null };
}

describe('event-stream frames read by InvokeEndpointWithResponseStreamCommand', { timeout: TEST_TIMEOUT_MS }, () => {
  const servers = [];
  after(() => servers.forEach((s) => s.close()));
  async function read(...pieces) {
    const s = await serve(frames(...pieces));
    servers.push(s);
    const result = await invokeAndRead(s);
    assert.equal(s.lastRequest.url, '/endpoints/demo/invocations-response-stream');
    return result;
  }

  it('every PayloadPart arrives in order with its bytes, and the variant is seen', async () => {
    const { answer, events, error } = await read('text:token 1 ', 'move:token 2 ', 'hex:00ff00', `fill:${MAX_PAYLOAD + 2}`);
    assert.equal(error, null, `${error}`);
    assert.equal(answer.InvokedProductionVariant, 'AllTraffic');
    assert.ok(events.every((e) => Object.keys(e).join() === 'PayloadPart'), JSON.stringify(events.map(Object.keys)));
    const parts = events.map((e) => Buffer.from(e.PayloadPart.Bytes));
    assert.equal(parts.length, 5);
    assert.deepEqual(parts.slice(0, 3), [Buffer.from('token 1 '), Buffer.from('token 2 '), Buffer.from([0, 0xff, 0])]);
    assert.ok(Buffer.concat(parts.slice(3)).equals(fill(MAX_PAYLOAD + 2)));
  });

  it('ModelStreamError after the parts throws rt.ModelStreamError with its Message and ErrorCode', async () => {
    const { events, error } = await read('text:a', 'text:b', 'model-error:StreamBroken:Model timed out');
    assert.deepEqual(events.map((e) => toUtf8(e.PayloadPart.Bytes)), ['a', 'b']);
    assert.ok(error instanceof rt.ModelStreamError, `not a ModelStreamError: ${error}`);
    assert.equal(error.name, 'ModelStreamError');
    assert.equal(error.message, 'Model timed out');
    assert.equal(error.Message, 'Model timed out');
    assert.equal(error.ErrorCode, 'StreamBroken');
    assert.equal(error.$fault, 'client');
  });

  it('InternalStreamFailure throws rt.InternalStreamFailure with its Message', async () => {
    const { events, error } = await read('text:a', 'internal-failure:endpointd could not go on');
    assert.equal(events.length, 1);
    assert.ok(error instanceof rt.InternalStreamFailure, `not an InternalStreamFailure: ${error}`);
    assert.equal(error.message, 'endpointd could not go on');
    assert.equal(error.Message, 'endpointd could not go on');
    assert.equal(error.$fault, 'server');
  });

  it('an error before any part rejects the call itself, its text beyond ASCII unchanged', async () => {
    const { answer, error } = await read('model-error:StreamBroken:mod\u00e8le \u20ac \u{1f600}');
    assert.equal(answer, null);
    assert.ok(error instanceof rt.ModelStreamError, `${error}`);
    assert.equal(error.message, 'mod\u00e8le \u20ac \u{1f600}');
  });
});
