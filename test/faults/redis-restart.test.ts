/**
 * Redis stopped and restarted (same port and password, no persistence: the stream, consumer group and host
 * registry are gone) under load. While it is down the front end answers 503 at once; the model host recreates
 * its consumer group, its heartbeat re-registers, and requests succeed again within seconds of Redis returning.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { keysFor, modelKeys } from '../../src/wire/keys.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';
import { sleep, waitUntil } from '../helpers/processes.ts';
import { answeredSince, closedLoop, closeLoadAgent, postRaw, smallPng, summarize } from '../helpers/load.ts';

const REQUEST_TIMEOUT_MS = 2000;

describe('Redis restarted under load', () => {
  let redis: EmbeddedRedis;
  let svc: TestService;
  let image: Buffer;

  before(async () => {
    redis = await startEmbeddedRedis();
    svc = await startTestService(
      { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), HEARTBEAT_MS: '300', MAX_BATCH: '8' },
      redis,
    );
    image = await smallPng(64);
  });
  after(async () => {
    await svc?.close();
    await redis?.stop();
    await closeLoadAgent();
  });

  it('answers 503 at once while Redis is down, and serves again within seconds of its return', async () => {
    const password = decodeURIComponent(new URL(redis.url).password);
    const port = redis.port;
    const load = closedLoop(svc.url, image, 6);
    await waitUntil(() => load.samples.filter((s) => s.status === 200).length >= 10, 20_000, 'load to be flowing');

    const stoppedAt = Date.now();
    await redis.stop();
    // Longer than the deadline, so that clients whose requests died with Redis (504) send again meanwhile.
    await sleep(REQUEST_TIMEOUT_MS + 1500);
    // One direct probe too: answered at once, not after a reconnect timeout.
    const probe = await postRaw(svc.url, image);
    assert.equal(probe.status, 503);
    assert.equal(probe.code, 'NOT_READY');
    assert.ok(probe.ms < 1000, `503 took ${probe.ms} ms`);
    const ready = await fetch(`${svc.url}/readyz`);
    assert.equal(ready.status, 503);
    const readyText = await ready.text();
    assert.equal(JSON.parse(readyText).ready, false);
    assert.doesNotMatch(readyText, /ECONN|127\.0\.0\.1|Stream isn't writeable/, 'no driver message in /readyz');

    redis = await startEmbeddedRedis({ port, password });
    const backAt = Date.now();
    await waitUntil(
      () => load.samples.some((s) => s.startedAt > backAt && s.status === 200),
      15_000,
      'a request to succeed after Redis returned',
    );
    const recoveredAt = Date.now();
    const recoveredMs = recoveredAt - backAt;
    await waitUntil(
      () => answeredSince(load.samples, recoveredAt) >= 20,
      30_000,
      '20 requests answered after recovery',
    );
    const samples = await load.stop();

    const duringOutage = samples.filter((s) => s.startedAt > stoppedAt + 300 && s.startedAt < backAt - 300);
    assert.ok(duringOutage.length > 0, 'requests were sent during the outage');
    for (const s of duringOutage) {
      assert.equal(s.status, 503, `during the outage: ${JSON.stringify(s)}`);
      assert.ok(s.ms < 1000, `a 503 during the outage took ${s.ms} ms`);
    }
    // Requests queued in the Redis that died are answered 504 at their deadline; nothing else but 200 / 503.
    const counts = summarize(samples);
    for (const key of Object.keys(counts))
      assert.ok(
        ['200', '503 NOT_READY', '504 DEADLINE_EXCEEDED'].includes(key),
        `unexpected ${key}: ${JSON.stringify(counts)}`,
      );
    assert.ok(
      samples.every((s) => s.ms <= REQUEST_TIMEOUT_MS + 1500),
      'every request answered by its deadline',
    );
    const afterReturn = samples.filter((s) => s.startedAt > backAt + recoveredMs);
    assert.ok(
      afterReturn.length > 0 && afterReturn.every((s) => s.status === 200),
      `after recovery: ${JSON.stringify(summarize(afterReturn))}`,
    );
    console.log(`# redis restart: ${JSON.stringify(counts)}; serving again ${recoveredMs} ms after Redis returned`);
    assert.ok(recoveredMs < 10_000);
    assert.equal((await fetch(`${svc.url}/readyz`)).status, 200);
    // The host recreated its consumer group in the new, empty Redis; its heartbeat re-registered it.
    const client = new Redis(redis.url);
    try {
      const groups = (await client.xinfo(
        'GROUPS',
        modelKeys(keysFor(svc.config.KEY_PREFIX), 'default').requests,
      )) as unknown[][];
      assert.equal(groups.length, 1);
      assert.ok((await client.zscore(keysFor(svc.config.KEY_PREFIX).registry, svc.host.id)) !== null);
    } finally {
      client.disconnect();
    }
    assert.equal(svc.frontend.pendingCount(), 0);
  });
});
