/**
 * SIGTERM, with real processes: a model host under load withdraws its heartbeat, stops reading, finishes and
 * publishes what it holds, and exits 0 leaving nothing in its pending list; a front end stops accepting, answers
 * the requests it holds, and exits 0. No request is lost either way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { CONSUMER_GROUP, keysFor, modelKeys } from '../../src/wire/keys.ts';
import { killAll, startFrontendProcess, startHostProcess, waitUntil, type Child } from '../helpers/processes.ts';
import { answeredSince, closedLoop, closeLoadAgent, postRaw, smallPng, summarize } from '../helpers/load.ts';

const PREFIX = 'graceful';

describe('graceful shutdown (SIGTERM)', () => {
  let redis: EmbeddedRedis;
  let client: Redis;
  let frontend: Child;
  let url: string;
  let image: Buffer;
  const hosts: Child[] = [];
  const env = () => ({
    REDIS_URL: redis.url,
    KEY_PREFIX: PREFIX,
    REQUEST_TIMEOUT_MS: '20000',
    MAX_BATCH: '8',
    HEARTBEAT_MS: '500',
  });

  before(async () => {
    redis = await startEmbeddedRedis();
    client = new Redis(redis.url);
    image = await smallPng(96);
    const [fe, a, b] = await Promise.all([
      startFrontendProcess('frontend', env()),
      startHostProcess('host-a', env()),
      startHostProcess('host-b', env()),
    ]);
    frontend = fe.child;
    url = fe.url;
    hosts.push(a, b);
  });
  after(async () => {
    await killAll();
    client?.disconnect();
    await redis?.stop();
    await closeLoadAgent();
  });

  it('a model host finishes what it holds and exits 0; every request answered 200', async () => {
    const [a, b] = hosts as [Child, Child];
    const hostId = (await a.waitForLog(/^model host ready$/)).hostId as string;
    const load = closedLoop(url, image, 16);
    await waitUntil(() => load.samples.length >= 30, 30_000, 'load to be flowing');
    const termAt = Date.now();
    a.kill('SIGTERM');
    assert.equal(await a.exited, 0);
    const exitedAt = Date.now();
    const exitMs = exitedAt - termAt;
    // The survivor carries on: requests sent after the exit are answered too.
    await waitUntil(() => answeredSince(load.samples, exitedAt) >= 20, 30_000, '20 requests answered after the exit');
    const samples = await load.stop();
    assert.deepEqual(Object.keys(summarize(samples)), ['200'], JSON.stringify(summarize(samples)));
    // Nothing was left behind for another host to re-claim.
    const pending = (await client.xpending(
      modelKeys(keysFor(PREFIX), 'default').requests,
      CONSUMER_GROUP,
      '-',
      '+',
      100,
      hostId,
    )) as unknown[];
    assert.equal(pending.length, 0, 'the stopped host left no unacknowledged requests');
    assert.ok(
      !b.logs.some((l) => /^claimed requests/.test(l.msg)),
      `nothing had to be re-claimed: ${JSON.stringify(b.logs.filter((l) => l.level >= 40))} ${JSON.stringify(a.logs.slice(-8))}`,
    );
    assert.ok(a.logs.some((l) => l.msg === 'shutting down gracefully'));
    console.log(`# host SIGTERM: ${samples.length} requests all 200; host exited 0 after ${exitMs} ms`);
  });

  it('a front end answers the requests it holds and exits 0', async () => {
    // Every request queued by the front end before it is told to stop (XINFO's entries-added counts them).
    const stream = modelKeys(keysFor(PREFIX), 'default').requests;
    const added = async () => {
      const info = (await client.xinfo('STREAM', stream)) as unknown[];
      return Number(info[info.indexOf('entries-added') + 1]);
    };
    const addedBefore = await added();
    const inFlight = Array.from({ length: 24 }, () => postRaw(url, image));
    await waitUntil(async () => (await added()) >= addedBefore + 24, 10_000, 'the 24 requests queued');
    frontend.kill('SIGTERM');
    const samples = await Promise.all(inFlight);
    assert.deepEqual(Object.keys(summarize(samples)), ['200'], JSON.stringify(summarize(samples)));
    assert.equal(await frontend.exited, 0);
    assert.ok(frontend.logs.some((l) => l.msg === 'front end closed'));
    // Gone: new connections are refused.
    assert.equal((await postRaw(url, image)).status, 0);
  });
});
