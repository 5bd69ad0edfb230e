/** The /predict contract against a real redis-server, the real model host and the real default model. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

/** METRICS_KEY: operators see /readyz's details with it. */
const OPERATOR_KEY = 'operator-key-for-tests-0123';

describe('POST /predict', () => {
  let svc: TestService;
  const batchSizes: number[] = [];
  let chelsea: Buffer;
  before(async () => {
    svc = await startTestService({ BODY_LIMIT_BYTES: String(1024 * 1024), METRICS_KEY: OPERATOR_KEY }, undefined, {
      onBatch: (s) => batchSizes.push(s.size),
    });
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(() => svc?.close());

  it('classifies a multipart upload (field "image") in the original shape, ranked, Neutral first', async () => {
    const res = await postImage(svc.url, chelsea, { type: 'image/png', filename: 'chelsea.png' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.ok(res.headers.get('x-request-id'));
    const body = await res.json();
    assert.equal(body.success, true);
    assert.equal(body.predictions.length, 5);
    assert.equal(body.predictions[0].label, 'Neutral');
    assert.ok(body.predictions[0].probability > 0.5);
    for (let i = 1; i < body.predictions.length; i++)
      assert.ok(body.predictions[i - 1].probability >= body.predictions[i].probability);
    assert.deepEqual([...body.predictions.map((p: { label: string }) => p.label)].sort(), LABELS);
    const sum = body.predictions.reduce((s: number, p: { probability: number }) => s + p.probability, 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
  });

  it('classifies a raw image/* body, and coffee.png is Neutral too', async () => {
    const coffee = await readFile(new URL('coffee.png', EXAMPLES));
    const res = await fetch(`${svc.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: coffee,
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.predictions[0].label, 'Neutral');
  });

  it('honours ?topk= and caps it at the number of classes', async () => {
    const two = await (await postImage(svc.url, chelsea, { query: '?topk=2' })).json();
    assert.equal(two.predictions.length, 2);
    const many = await (await postImage(svc.url, chelsea, { query: '?topk=50' })).json();
    assert.equal(many.predictions.length, 5);
    const bad = await postImage(svc.url, chelsea, { query: '?topk=zero' });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, 'BAD_REQUEST');
  });

  it('answers each bad input with its status and error code, never a stack', async () => {
    const cases: Array<[string, () => Promise<Response>, number, string]> = [
      [
        'no image field',
        async () => {
          const f = new FormData();
          f.append('other', 'x');
          return fetch(`${svc.url}/predict`, { method: 'POST', body: f });
        },
        400,
        'MISSING_IMAGE',
      ],
      ['undecodable (truncated PNG)', () => postImage(svc.url, chelsea.subarray(0, 2000)), 400, 'INVALID_IMAGE'],
      [
        'not an image',
        () => postImage(svc.url, Buffer.from('<html><body>hello</body></html>')),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'JSON body',
        () =>
          fetch(`${svc.url}/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"a":1}',
          }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['too large', () => postImage(svc.url, Buffer.alloc(2 * 1024 * 1024, 1)), 413, 'BODY_TOO_LARGE'],
      ['GET /predict', () => fetch(`${svc.url}/predict`), 405, 'METHOD_NOT_ALLOWED'],
      ['unknown path', () => fetch(`${svc.url}/nope`), 404, 'NOT_FOUND'],
    ];
    for (const [name, send, status, code] of cases) {
      const res = await send();
      const text = await res.text();
      assert.equal(res.status, status, `${name}: ${text}`);
      const body = JSON.parse(text);
      assert.equal(body.success, false, name);
      assert.equal(body.error.code, code, name);
      assert.equal(typeof body.error.message, 'string');
      assert.doesNotMatch(text, /at .*\.ts:\d+|Error:|\/work\//, `${name} leaks internals`);
    }
    // Still serving afterwards.
    assert.equal((await postImage(svc.url, chelsea)).status, 200);
  });

  it('forms batches larger than 1 under concurrent load', async () => {
    batchSizes.length = 0;
    const small = await sharp(chelsea).resize(128).png().toBuffer();
    const results = await Promise.all(Array.from({ length: 48 }, () => postImage(svc.url, small)));
    assert.deepEqual(
      results.map((r) => r.status).filter((s) => s !== 200),
      [],
    );
    assert.ok(Math.max(...batchSizes) > 1, `batch sizes seen: ${batchSizes.join(',')}`);
  });

  it('GET / welcomes, /healthz is alive, /readyz names the engine and the HTTP server (uWS: its native binary) to operators only', async () => {
    const root = await fetch(`${svc.url}/`);
    assert.equal(root.status, 200);
    assert.match(await root.text(), /predict/);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    // Strangers (and load balancers) get the status; the details need the operators' key.
    const pub = await fetch(`${svc.url}/readyz`);
    assert.equal(pub.status, 200);
    assert.deepEqual(await pub.json(), { ready: true });
    assert.deepEqual(
      await (await fetch(`${svc.url}/readyz`, { headers: { authorization: 'Bearer wrong-key-wrong-key' } })).json(),
      { ready: true },
    );
    const ready = await fetch(`${svc.url}/readyz`, { headers: { authorization: `Bearer ${OPERATOR_KEY}` } });
    assert.equal(ready.status, 200);
    const body = await ready.json();
    assert.equal(body.ready, true);
    assert.equal(body.httpServer, process.env.HTTP_SERVER || 'uws');
    if (body.httpServer === 'uws')
      assert.match(body.uws, /\.node$/, 'the native uWS binary must be serving, not the JS fallback');
    const models = await (await fetch(`${svc.url}/v1/models`)).json();
    assert.equal(models.httpServer, body.httpServer);
    assert.ok(['onnx', 'tfjs'].includes(body.modelHosts[0].engine));
    assert.ok(body.modelHosts[0].backend);
  });
});
