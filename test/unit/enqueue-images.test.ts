/**
 * queueImages (src/frontend/enqueue-images.ts) against a real Redis and a stand-in host: one entry per image,
 * failures in their own place, admission's refusals, a result from another model refused, the client leaving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { queueImages, type QueueItem, type QueueRequest } from '../../src/frontend/enqueue-images.ts';
import { modelKeys } from '../../src/wire/keys.ts';
import { startFrontendParts, type FrontendParts } from '../helpers/frontend-parts.ts';

const PREDICTIONS = [{ label: 'Neutral', probability: 0.75 }];
const image = (byte: number): QueueItem => ({ ok: true, image: new Uint8Array([byte, byte, byte]), format: 'jpeg' });

describe('queueImages', () => {
  let fe: FrontendParts;
  before(async () => {
    fe = await startFrontendParts({ MAX_QUEUE: '3' });
    await fe.hostLive();
  });
  after(() => fe?.close());

  const request = (items: QueueItem[], extra: Partial<QueueRequest> = {}): QueueRequest => ({
    items,
    model: 'default',
    topk: 3,
    deadline: Date.now() + 5000,
    onAbort: () => {},
    log: () => fe.ctx.log,
    ...extra,
  });

  it('queues one entry per valid image and answers each in its own place', async () => {
    const done = queueImages(
      fe.ctx,
      request([image(1), { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'nope' }, image(2)], { scores: true }),
    );
    const envs = await fe.take(2);
    assert.deepEqual(
      envs.map((e) => [...e.image!]),
      [
        [1, 1, 1],
        [2, 2, 2],
      ],
    );
    assert.ok(envs.every((e) => e.topk === 3 && e.scores === true && e.replyTo === fe.ctx.replyStream));
    assert.notEqual(envs[0]!.id, envs[1]!.id, 'each image its own id');
    const scores = new Uint8Array(new Float32Array([0.25, 0.75]).buffer);
    await fe.reply(envs[1]!, { ok: false, code: 'IMAGE_TOO_LARGE', message: 'big' });
    await fe.reply(envs[0]!, { ok: true, predictions: PREDICTIONS, scores, model: 'default' });
    const out = (await done)!;
    assert.deepEqual(out.results, [
      { success: true, predictions: PREDICTIONS },
      { success: false, error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'nope' } },
      { success: false, error: { code: 'IMAGE_TOO_LARGE', message: 'big' } },
    ]);
    assert.deepEqual([...out.scores[0]!], [...scores]);
    assert.equal(fe.ctx.pending.size, 0);
  });

  it('queues nothing when no image is valid', async () => {
    const before = await fe.redis.xlen(modelKeys(fe.keys, 'default').shards[0]!.requests);
    const out = await queueImages(fe.ctx, request([{ ok: false, code: 'BAD_REQUEST', message: 'empty' }]));
    assert.deepEqual(out?.results, [{ success: false, error: { code: 'BAD_REQUEST', message: 'empty' } }]);
    assert.equal(await fe.redis.xlen(modelKeys(fe.keys, 'default').shards[0]!.requests), before);
  });

  it('refuses a result that names another model', async () => {
    const done = queueImages(fe.ctx, request([image(3)]));
    const [env] = await fe.take(1);
    await fe.reply(env!, { ok: true, predictions: PREDICTIONS, model: 'someone-else' });
    assert.deepEqual((await done)!.results[0], {
      success: false,
      error: { code: 'INTERNAL', message: 'Internal error.' },
    });
    assert.ok(fe.lines.some((l) => l.msg === 'result from another model refused'));
  });

  it('answers OVERLOADED past MAX_QUEUE, per image', async () => {
    // MAX_QUEUE=3 counts entries not yet acknowledged: the stand-in host never acknowledges, so few are left.
    const stream = modelKeys(fe.keys, 'default').shards[0]!.requests;
    await fe.redis.del(stream);
    const out = await queueImages(
      fe.ctx,
      request([image(4), image(5), image(6), image(7), image(8)], { deadline: Date.now() + 300 }),
    );
    const codes = out!.results.map((r) => (r.success ? 'ok' : r.error.code));
    assert.deepEqual(codes, [
      'DEADLINE_EXCEEDED',
      'DEADLINE_EXCEEDED',
      'DEADLINE_EXCEEDED',
      'OVERLOADED',
      'OVERLOADED',
    ]);
  });

  it('answers NOT_READY naming the model when no host is live', async () => {
    await fe.redis.del(modelKeys(fe.keys, 'default').shards[0]!.liveHosts);
    const out = await queueImages(fe.ctx, request([image(9)]));
    assert.deepEqual(out!.results[0], {
      success: false,
      error: { code: 'NOT_READY', message: 'No live model host serves model default.' },
    });
    await fe.hostLive();
  });

  it('resolves undefined and frees every pending entry when the client leaves', async () => {
    await fe.redis.del(modelKeys(fe.keys, 'default').shards[0]!.requests); // room below MAX_QUEUE
    let leave!: () => void;
    const done = queueImages(fe.ctx, request([image(10), image(11)], { onAbort: (l) => (leave = l) }));
    assert.equal(fe.ctx.pending.size, 2);
    leave();
    assert.equal(await done, undefined);
    assert.equal(fe.ctx.pending.size, 0);
  });
});
