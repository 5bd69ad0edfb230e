/**
 * POST /predict on the in-memory HTTP seam, with a real Redis and a stand-in model host speaking the real wire
 * format: what is queued, what each answer looks like, and the early refusals that queue nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { EXAMPLES } from '../../scripts/lib/in-process-service.ts';
import { modelKeys } from '../../src/wire/keys.ts';
import { startFrontendParts, type FrontendParts } from '../helpers/frontend-parts.ts';
import { waitUntil } from '../helpers/processes.ts';

const PREDICTIONS = [
  { label: 'Neutral', probability: 0.9 },
  { label: 'Drawing', probability: 0.1 },
];

function multipart(parts: Array<{ type: string; bytes: Buffer }>): { body: Buffer; contentType: string } {
  const boundary = 'predict-test-boundary';
  const chunks = parts.flatMap((p, i) => [
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${i}"\r\nContent-Type: ${p.type}\r\n\r\n`,
    ),
    p.bytes,
    Buffer.from('\r\n'),
  ]);
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

describe('POST /predict', () => {
  let fe: FrontendParts;
  let jpeg: Buffer;
  const queued = async () => fe.redis.xlen(modelKeys(fe.keys, 'default').shards[0]!.requests);

  before(async () => {
    fe = await startFrontendParts({ REQUEST_TIMEOUT_MS: '2000', BODY_TIMEOUT_MS: '200', BODY_LIMIT_BYTES: '1000000' });
    jpeg = await readFile(new URL('rocket.jpg', EXAMPLES));
  });
  after(() => fe?.close());

  it('queues the image as sent and answers the host result in the original shape', async () => {
    await fe.hostLive();
    const startedAt = Date.now();
    const response = fe.http.inject({
      url: '/predict?topk=2',
      body: jpeg,
      headers: { 'content-type': 'image/jpeg', 'x-request-id': 'predict-one' },
    });
    const [env] = await fe.take(1);
    assert.ok(env, 'one request entry');
    assert.deepEqual(Buffer.from(env.image!), jpeg);
    assert.equal(env.topk, 2);
    assert.ok(
      Math.abs(env.deadline - (startedAt + fe.config.REQUEST_TIMEOUT_MS)) < 1000,
      'deadline from REQUEST_TIMEOUT_MS',
    );
    await fe.reply(env, { ok: true, predictions: PREDICTIONS });
    const res = (await response)!;
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { success: true, predictions: PREDICTIONS });
    assert.equal(res.headers['x-request-id'], 'predict-one');
    await waitUntil(() => fe.lines.some((l) => l.reqId === 'predict-one' && l.status === 200), 2000, 'access line');
  });

  it("answers a host's refusal with that error's status", async () => {
    const response = fe.http.inject({ url: '/predict', body: jpeg, headers: { 'content-type': 'image/jpeg' } });
    const [env] = await fe.take(1);
    await fe.reply(env!, { ok: false, code: 'IMAGE_TOO_COMPLEX', message: 'too many scans' });
    const res = (await response)!;
    assert.equal(res.status, 422);
    assert.deepEqual(res.json(), { success: false, error: { code: 'IMAGE_TOO_COMPLEX', message: 'too many scans' } });
  });

  it('answers several images in upload order, each failing alone', async () => {
    const { body, contentType } = multipart([
      { type: 'image/jpeg', bytes: jpeg },
      { type: 'image/png', bytes: Buffer.from('not an image at all') },
      { type: 'image/jpeg', bytes: jpeg },
    ]);
    const response = fe.http.inject({ url: '/predict', body, headers: { 'content-type': contentType } });
    const envs = await fe.take(3, 'default', 1000);
    assert.equal(envs.length, 2, 'only the two images are queued');
    await fe.reply(envs[0]!, { ok: true, predictions: PREDICTIONS });
    await fe.reply(envs[1]!, { ok: false, code: 'DEADLINE_EXCEEDED', message: 'late' });
    const res = (await response)!;
    assert.equal(res.status, 200);
    const results = res.json<{ results: Array<{ success: boolean; error?: { code: string } }> }>().results;
    assert.deepEqual(
      results.map((r) => (r.success ? 'ok' : r.error!.code)),
      ['ok', 'UNSUPPORTED_MEDIA_TYPE', 'DEADLINE_EXCEEDED'],
    );
  });

  it('answers 504 when the host never does, and frees the pending entry', async () => {
    const response = fe.http.inject({ url: '/predict', body: jpeg, headers: { 'content-type': 'image/jpeg' } });
    assert.equal((await fe.take(1)).length, 1);
    const res = (await response)!;
    assert.equal(res.status, 504);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'DEADLINE_EXCEEDED');
    assert.equal(fe.ctx.pending.size, 0);
  });

  it('a client that leaves frees its entry at once; its late result is discarded', async () => {
    const request = fe.http.open({ url: '/predict', body: jpeg, headers: { 'content-type': 'image/jpeg' } });
    const [env] = await fe.take(1);
    assert.equal(fe.ctx.pending.size, 1);
    request.abort();
    assert.equal(await request.response, undefined);
    assert.equal(fe.ctx.pending.size, 0);
    await fe.reply(env!, { ok: true, predictions: PREDICTIONS });
    await waitUntil(() => fe.lines.some((l) => l.msg === 'discarded a result nobody waits for'), 2000, 'discarded');
    assert.ok(fe.lines.some((l) => l.route === '/predict' && l.status === 499));
  });

  it('refuses before queueing: bad topk, unknown model (naming those served), no live host', async () => {
    const before = await queued();
    const send = (url: string) =>
      fe.http.inject({ url, body: jpeg, headers: { 'content-type': 'image/jpeg' } }) as Promise<
        NonNullable<Awaited<ReturnType<FrontendParts['http']['inject']>>>
      >;
    let res = await send('/predict?topk=0');
    assert.equal(res.status, 400);
    assert.match(res.json<{ error: { message: string } }>().error.message, /"topk" must be an integer from 1/);
    res = await send('/predict?model=nope');
    assert.equal(res.status, 404);
    assert.deepEqual(res.json(), {
      success: false,
      error: { code: 'MODEL_NOT_FOUND', message: 'No model named "nope" is served here (served: default).' },
    });
    await fe.redis.del(modelKeys(fe.keys, 'default').shards[0]!.liveHosts);
    res = await send('/predict');
    assert.equal(res.status, 503);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'NOT_READY');
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(await queued(), before, 'nothing queued');
    await fe.hostLive();
  });

  it('refuses a body over BODY_LIMIT_BYTES (413) and one that stalls (408), closing the connection', async () => {
    const big = await fe.http.inject({
      url: '/predict',
      body: Buffer.alloc(fe.config.BODY_LIMIT_BYTES + 1),
      headers: { 'content-type': 'image/jpeg' },
    });
    assert.equal(big!.status, 413);
    assert.equal(big!.json<{ error: { code: string } }>().error.code, 'BODY_TOO_LARGE');
    assert.equal(big!.closeConnection, true);
    const stalled = await fe.http.inject({
      url: '/predict',
      body: jpeg.subarray(0, 100),
      stallBody: true,
      headers: { 'content-type': 'image/jpeg' },
    });
    assert.equal(stalled!.status, 408);
    assert.equal(stalled!.closeConnection, true);
  });
});
