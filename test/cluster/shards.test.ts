/**
 * REQUEST_SHARDS on one real Redis: admission bounds each shard at ceil(MAX_QUEUE / shards) and passes a request
 * on to the next shard when one is full; a model host reads every shard, so a short shard is not left waiting
 * behind a long one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { startModelHost, type ModelHost } from '../../src/host/model-host.ts';
import { REQUEST_FIELDS, keysFor, modelKeys } from '../../src/wire/keys.ts';
import { encodeRequest, unpackResult } from '../../src/wire/envelope.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { waitUntil } from '../helpers/processes.ts';
import { closeLoadAgent, postRaw, smallPng, summarize } from '../helpers/load.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';

const log = createLogger('test', 'silent');

describe('request shards on one Redis', { timeout: 90_000 }, () => {
  let redis: EmbeddedRedis;
  let client: Redis;
  let frontend: Frontend | undefined;
  let host: ModelHost | undefined;
  let image: Buffer;

  before(async () => {
    redis = await startEmbeddedRedis();
    client = new Redis(redis.url);
    image = await smallPng(64);
  });
  after(async () => {
    client?.disconnect();
    await frontend?.close();
    await host?.close();
    await redis?.stop();
    await closeLoadAgent();
  });

  it('bounds each shard at its share of MAX_QUEUE and passes a request on when a shard is full', async () => {
    const config = testConfig({
      PORT: '0',
      KEY_PREFIX: 'shards-adm',
      REQUEST_SHARDS: '3',
      MAX_QUEUE: '6',
      REQUEST_TIMEOUT_MS: '1500',
    });
    const keys = modelKeys(keysFor(config.KEY_PREFIX, 3), 'default');
    frontend = await startFrontend(config, redis.url, log);
    // A heartbeat with no host behind it, in every shard: requests are admitted and wait.
    for (const shard of keys.shards) await client.zadd(shard.liveHosts, Date.now() + 60_000, 'ghost');
    // Shard 0 already holds its share (ceil(6 / 3) = 2).
    for (let i = 0; i < 2; i++) await client.xadd(keys.shards[0]!.requests, '*', REQUEST_FIELDS.meta, 'x');
    const url = `http://127.0.0.1:${frontend.port}`;
    const samples = await Promise.all(Array.from({ length: 5 }, () => postRaw(url, image)));
    const lengths = await Promise.all(keys.shards.map((s) => client.xlen(s.requests)));
    console.log(`# shard lengths ${JSON.stringify(lengths)}; answers ${JSON.stringify(summarize(samples))}`);
    assert.deepEqual(lengths, [2, 2, 2], 'the full shard took none; the others took their share each');
    assert.equal(samples.filter((s) => s.status === 504).length, 4, 'four admitted (answered at their deadline)');
    assert.deepEqual(
      samples.filter((s) => s.status === 503).map((s) => s.code),
      ['OVERLOADED'],
      'the fifth refused',
    );
    await frontend.close();
    frontend = undefined;
  });

  it('a model host reads every shard: a short shard is served while a long one still has a backlog', async () => {
    const config = testConfig({
      PORT: '0',
      KEY_PREFIX: 'shards-fair',
      REQUEST_SHARDS: '3',
      PREPROCESS_THREADS: '1',
      MAX_BATCH: '8',
    });
    const keys = modelKeys(keysFor(config.KEY_PREFIX, 3), 'default');
    const replyTo = keysFor(config.KEY_PREFIX, 3).replies('test');
    const queue = async (shard: number, count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const id = randomUUID();
        ids.push(id);
        const entry = encodeRequest({ id, topk: 1, deadline: Date.now() + 60_000, replyTo, image });
        await client.xadd(keys.shards[shard]!.requests, '*', REQUEST_FIELDS.meta, entry.meta, entry.field, image);
      }
      return ids;
    };
    const long = await queue(0, 120);
    const short = await queue(2, 3);
    host = await startModelHost(config, redis.url, log);
    const order: string[] = [];
    let last = '0-0';
    await waitUntil(
      async () => {
        const reply = (await client.xreadBuffer('COUNT', 200, 'STREAMS', replyTo, last)) as Array<
          [Buffer, Array<[Buffer, Buffer[]]>]
        > | null;
        for (const [rawId, fields] of reply?.[0]?.[1] ?? []) {
          last = rawId.toString();
          const result = unpackResult(fields[1]!);
          if (result) order.push(result.id);
        }
        return order.length >= long.length + short.length;
      },
      60_000,
      'every queued request to be answered',
    );
    const positions = short.map((id) => order.indexOf(id));
    console.log(`# answers of the short shard at positions ${positions.join(', ')} of ${order.length}`);
    assert.ok(
      positions.every((p) => p >= 0 && p < 40),
      `short shard answered early: ${positions}`,
    );
  });
});
