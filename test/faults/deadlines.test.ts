/**
 * Deadlines end to end: requests queued while no host can serve them are answered 504 at their deadline by the
 * front end; when a model host then takes them it answers them DEADLINE_EXCEEDED without running inference (no
 * batch), and the front end discards those late results without error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { startModelHost, type ModelHost } from '../../src/host/model-host.ts';
import { keysFor, modelKeys } from '../../src/wire/keys.ts';
import { captureLogger, waitUntil } from '../helpers/processes.ts';
import { closeLoadAgent, postRaw, smallPng } from '../helpers/load.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';

describe('deadlines end to end', () => {
  let redis: EmbeddedRedis;
  let frontend: Frontend;
  let host: ModelHost | undefined;
  let client: Redis;
  const config = testConfig({
    PORT: '0',
    KEY_PREFIX: 'deadlines',
    REQUEST_TIMEOUT_MS: '600',
    PREPROCESS_THREADS: '1',
    LOG_LEVEL: 'debug',
  });
  const keys = keysFor(config.KEY_PREFIX);
  const fe = captureLogger();
  const hostLog = captureLogger();

  before(async () => {
    redis = await startEmbeddedRedis();
    client = new Redis(redis.url);
    frontend = await startFrontend(config, redis.url, fe.log);
  });
  after(async () => {
    client?.disconnect();
    await frontend?.close();
    await host?.close();
    await redis?.stop();
    await closeLoadAgent();
  });

  it('504 at the deadline; a host that takes expired requests later answers them without inference', async () => {
    const url = `http://127.0.0.1:${frontend.port}`;
    const image = await smallPng(64);
    // A heartbeat with no host behind it: requests are admitted and wait in the stream.
    await client.zadd(modelKeys(keys, 'default').shards[0]!.liveHosts, Date.now() + 60_000, 'ghost');
    const samples = await Promise.all(Array.from({ length: 6 }, () => postRaw(url, image)));
    for (const s of samples) {
      assert.equal(s.status, 504);
      assert.equal(s.code, 'DEADLINE_EXCEEDED');
      assert.ok(s.ms >= 550 && s.ms < 3000, `answered after ${s.ms} ms`);
    }
    assert.equal(await client.xlen(modelKeys(keys, 'default').requests), 6);
    await client.zrem(modelKeys(keys, 'default').shards[0]!.liveHosts, 'ghost');

    const batches: number[] = [];
    host = await startModelHost(config, redis.url, hostLog.log, { onBatch: (s) => batches.push(s.size) });
    await waitUntil(
      async () => (await client.xlen(modelKeys(keys, 'default').requests)) === 0,
      15_000,
      'the host to answer the expired requests',
    );
    await waitUntil(() => frontend.discardedResults() === 6, 5000, 'the late results to reach the front end');
    assert.deepEqual(batches, [], 'no inference was spent on expired requests');

    // A live request still runs.
    const ok = await postRaw(url, image);
    assert.equal(ok.status, 200);
    assert.deepEqual(batches, [1]);
    assert.equal(frontend.pendingCount(), 0);
    assert.deepEqual(
      [...fe.lines, ...hostLog.lines].filter((l) => l.level >= 50),
      [],
      'no errors logged',
    );
  });
});
