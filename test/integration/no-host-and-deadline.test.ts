/**
 * Failure answers that need no model: 503 when no model host is live, 504 at the deadline when a host is
 * registered but never answers, and 503 + Retry-After when the queue is full.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { keysFor, modelKeys } from '../../src/wire/keys.ts';
import { EXAMPLES, postImage, testConfig } from '../../scripts/lib/in-process-service.ts';

describe('front end without a working model host', () => {
  let redis: EmbeddedRedis;
  let frontend: Frontend;
  let client: Redis;
  let url: string;
  const config = testConfig({
    PORT: '0',
    KEY_PREFIX: 'nohost',
    REQUEST_TIMEOUT_MS: '400',
    MAX_QUEUE: '1',
    LOG_LEVEL: 'silent',
  });
  const keys = keysFor(config.KEY_PREFIX);
  let image: Buffer;

  before(async () => {
    redis = await startEmbeddedRedis();
    frontend = await startFrontend(config, redis.url, createLogger('test', 'silent'));
    client = new Redis(redis.url);
    url = `http://127.0.0.1:${frontend.port}`;
    image = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(async () => {
    client?.disconnect();
    await frontend?.close();
    await redis?.stop();
  });

  it('answers 503 NOT_READY at once when no model host is live, and /readyz is 503', async () => {
    const res = await postImage(url, image);
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error.code, 'NOT_READY');
    assert.equal((await fetch(`${url}/readyz`)).status, 503);
  });

  it('answers 504 at the deadline when the host never answers, then 503 OVERLOADED past MAX_QUEUE', async () => {
    // A heartbeat with no host behind it: requests are admitted and never answered.
    await client.zadd(modelKeys(keys, 'default').shards[0]!.liveHosts, Date.now() + 60_000, 'ghost');
    const started = Date.now();
    const first = postImage(url, image);
    // Until the first request is queued: then the queue (MAX_QUEUE 1) is full.
    for (const until = Date.now() + 10_000; (await client.xlen(modelKeys(keys, 'default').requests)) < 1; ) {
      assert.ok(Date.now() < until, 'the first request was never queued');
      await new Promise((r) => setTimeout(r, 10));
    }
    const second = await postImage(url, image);
    assert.equal(second.status, 503);
    assert.equal(second.headers.get('retry-after'), '1');
    assert.equal((await second.json()).error.code, 'OVERLOADED');
    const res = await first;
    assert.equal(res.status, 504);
    assert.equal((await res.json()).error.code, 'DEADLINE_EXCEEDED');
    const waited = Date.now() - started;
    assert.ok(waited >= 350 && waited < 3000, `answered after ${waited} ms`);
  });
});
