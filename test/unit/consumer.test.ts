/**
 * RequestConsumer (src/host/consumer.ts) on a real Redis, feeding the real batcher and publisher; only decoding
 * and inference are stood in for. Entries of every shard are read, answered and acknowledged; malformed ones are
 * dropped; a dead host's entries are re-claimed; a lost consumer group is recreated; stop() ends a blocked read.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import { Batcher } from '../../src/host/batcher.ts';
import { ensureGroup, RequestConsumer } from '../../src/host/consumer.ts';
import { ResultPublisher } from '../../src/host/publisher.ts';
import { connectRedis, whenReady, type RedisClient } from '../../src/redis/connect.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { encodeRequest, unpackResult, type Result } from '../../src/wire/envelope.ts';
import { CONSUMER_GROUP, keysFor, modelKeys, RESULT_FIELD, type Keys } from '../../src/wire/keys.ts';
import { captureLogger, waitUntil } from '../helpers/processes.ts';

const LABELS = ['a', 'b'];
const REPLIES = 'consumer-test:replies';

describe('RequestConsumer', () => {
  let server: EmbeddedRedis;
  let redis: RedisClient;
  let keys: Keys;
  let consumer: RequestConsumer;
  const { log, lines } = captureLogger();
  const quiet = pino({ level: 'silent' });
  const blocking: RedisClient[] = [];

  /** The results on the reply stream so far, by request id. */
  const results = async () => {
    const entries = (await redis.xrangeBuffer(REPLIES, '-', '+')) as Array<[Buffer, Buffer[]]>;
    return new Map(
      entries.flatMap(([, f]) => {
        const r = f[0]?.toString() === RESULT_FIELD ? unpackResult(f[1]!) : undefined;
        return r ? [[r.id, r] as [string, Result]] : [];
      }),
    );
  };
  const entry = (id: string) =>
    encodeRequest({ id, topk: 1, deadline: Date.now() + 30_000, replyTo: REPLIES, image: new Uint8Array([1]) });
  const add = (shard: number, id: string) => {
    const e = entry(id);
    return redis.xaddBuffer(keys.shards[shard]!.requests, '*', 'meta', e.meta, e.field, Buffer.from(e.bytes));
  };

  before(async () => {
    server = await startEmbeddedRedis();
    redis = connectRedis(server.url, 'consumer-test', quiet);
    keys = modelKeys(keysFor('consumer-test', 2), 'default');
    for (const shard of keys.shards) blocking.push(connectRedis(server.url, `consumer-test:${shard.index}`, quiet));
    await Promise.all([redis, ...blocking].map((c) => whenReady(c)));
    await ensureGroup(redis, keys);
    const publisher = new ResultPublisher(redis, keys, 60, 'default');
    const batcher = new Batcher({
      buffers: new BatchBuffers({ maxBatch: 4, slotElements: 1, count: 2 }),
      labels: LABELS,
      maxBatchDelayMs: 0,
      stragglerWaitMs: 1000,
      preprocess: async () => ({ ok: true, ms: 1 }),
      infer: async (_buffer, n) => ({ scores: new Float32Array(n * LABELS.length).fill(0.5), ms: 1 }),
      complete: (done) => publisher.publish(done),
      onError: (err) => log.error({ err: err.message }, 'batcher error'),
    });
    consumer = new RequestConsumer(
      blocking,
      keys,
      batcher,
      publisher,
      { consumerName: 'host-under-test', claimIdleMs: 200, blockMs: 300 },
      log,
    );
    consumer.start();
  });
  after(async () => {
    await consumer?.stop();
    redis?.disconnect();
    await server?.stop();
  });

  it('reads every shard, and each request is answered and acknowledged', async () => {
    for (let i = 0; i < 6; i++) await add(i % 2, `r${i}`);
    await waitUntil(async () => (await results()).size === 6, 10_000, 'six results');
    const got = await results();
    assert.deepEqual([...got.keys()].sort(), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    assert.ok([...got.values()].every((r) => r.ok && r.model === 'default'));
    for (const shard of keys.shards) {
      await waitUntil(async () => (await redis.xlen(shard.requests)) === 0, 5000, 'answered entries deleted');
      const pending = (await redis.xpending(shard.requests, CONSUMER_GROUP)) as [number];
      assert.equal(pending[0], 0, 'nothing left unacknowledged');
    }
  });

  it('drops a malformed entry (logged, acknowledged) and goes on', async () => {
    await redis.xadd(keys.shards[0]!.requests, '*', 'meta', 'not msgpack at all');
    await add(0, 'after-malformed');
    await waitUntil(async () => (await results()).has('after-malformed'), 10_000, 'the next request answered');
    assert.ok(lines.some((l) => l.msg === 'discarding malformed request entries'));
    await waitUntil(async () => (await redis.xlen(keys.shards[0]!.requests)) === 0, 5000, 'malformed entry dropped');
  });

  it("re-claims a dead host's entries and answers them", async () => {
    const shard = keys.shards[1]!;
    // Another consumer takes it in the same transaction (before this host's blocked read can) and dies: it has no
    // heartbeat in the shard's live-host set.
    const e = entry('held-by-dead');
    const [, [, taken]] = (await redis
      .multi()
      .xadd(shard.requests, '*', 'meta', e.meta, e.field, Buffer.from(e.bytes))
      .xreadgroup('GROUP', CONSUMER_GROUP, 'dead-host', 'COUNT', 1, 'STREAMS', shard.requests, '>')
      .exec()) as [unknown, [unknown, unknown]];
    assert.ok(taken, 'the dead host took the entry');
    await redis.zadd(shard.liveHosts, Date.now() + 60_000, 'host-under-test');
    let claimed = 0;
    consumer.onClaimed = (n) => (claimed += n);
    await waitUntil(async () => (await results()).has('held-by-dead'), 10_000, 'the re-claimed request answered');
    assert.equal(claimed, 1);
    assert.ok(lines.some((l) => l.msg === 'claimed requests of a model host with no fresh heartbeat (dead)'));
  });

  it('recreates a consumer group Redis lost, and reads on', async () => {
    await redis.del(keys.shards[0]!.requests);
    await waitUntil(
      () => lines.some((l) => l.msg === 'consumer group was missing (Redis restarted?): recreated'),
      10_000,
      'the group recreated',
    );
    await add(0, 'after-nogroup');
    await waitUntil(async () => (await results()).has('after-nogroup'), 10_000, 'answered after the group came back');
  });

  it('stop() returns within a blocking read', async () => {
    const started = Date.now();
    await consumer.stop();
    assert.ok(Date.now() - started < 300 + 3000, `stopped in ${Date.now() - started} ms`);
  });
});
