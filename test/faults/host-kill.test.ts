/**
 * Model host failures under load, with hosts as real processes: a host SIGKILLed mid-batch leaves its requests
 * unacknowledged; another host re-claims them (reclaim.ts: XPENDING + XCLAIM in one Lua script, once idle for
 * CLAIM_IDLE_MS and their host's heartbeat is gone) and answers them. A host frozen
 * (SIGSTOP) past CLAIM_IDLE_MS and then resumed answers its requests a second time: the front end answers each
 * client once and discards the late duplicates.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { killAll, startHostProcess, waitUntil, type Child } from '../helpers/processes.ts';
import { answeredSince, closedLoop, closeLoadAgent, smallPng, summarize } from '../helpers/load.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';

const REQUEST_TIMEOUT_MS = 30_000;

describe('model host killed or frozen under load', () => {
  let redis: EmbeddedRedis;
  let frontend: Frontend;
  let url: string;
  let image: Buffer;
  const feLogs: Array<{ level: number; msg: string }> = [];
  const hostEnv = (): Record<string, string> => ({
    REDIS_URL: redis.url,
    KEY_PREFIX: 'hostkill',
    CLAIM_IDLE_MS: '1500',
    HEARTBEAT_MS: '500',
    REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    MAX_BATCH: '16',
    MAX_BATCH_DELAY_MS: '20',
  });
  const hosts: Child[] = [];

  before(async () => {
    redis = await startEmbeddedRedis();
    const config = testConfig({
      PORT: '0',
      KEY_PREFIX: 'hostkill',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      LOG_LEVEL: 'debug',
    });
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n')) if (l) feLogs.push(JSON.parse(l));
        cb();
      },
    });
    frontend = await startFrontend(config, redis.url, pino({ level: 'debug' }, sink));
    url = `http://127.0.0.1:${frontend.port}`;
    image = await smallPng(96);
    hosts.push(...(await Promise.all([startHostProcess('host-a', hostEnv()), startHostProcess('host-b', hostEnv())])));
  });
  after(async () => {
    await killAll();
    await frontend?.close();
    await redis?.stop();
    await closeLoadAgent();
  });

  const claimedBy = (list: Child[]) =>
    list.reduce(
      (n, h) => n + h.logs.filter((l) => /^claimed requests/.test(l.msg)).reduce((k, l) => k + (l.count as number), 0),
      0,
    );

  it('SIGKILL of a host mid-batch: every request is answered 200 exactly once, none lost', async () => {
    const [a] = hosts;
    const load = closedLoop(url, image, 24);
    await waitUntil(() => load.samples.length >= 40, 30_000, 'load to be flowing');
    a!.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal(await a!.exited, 'SIGKILL');
    // A replacement host comes up while the survivor carries the load.
    hosts.push(await startHostProcess('host-a2', hostEnv()));
    await waitUntil(() => claimedBy(hosts) > 0, 15_000, "the dead host's requests to be re-claimed");
    const claimedAt = Date.now();
    await waitUntil(
      () => answeredSince(load.samples, claimedAt) >= 20,
      30_000,
      '20 requests answered after the re-claim',
    );
    const samples = await load.stop();
    const counts = summarize(samples);
    assert.deepEqual(Object.keys(counts), ['200'], `statuses: ${JSON.stringify(counts)}`);
    assert.ok(
      samples.every((s) => s.ms < REQUEST_TIMEOUT_MS),
      'every request answered within its deadline',
    );
    const slowest = Math.max(...samples.filter((s) => s.startedAt < killedAt).map((s) => s.ms));
    console.log(
      `# kill: ${samples.length} requests, all 200; ${claimedBy(hosts)} re-claimed; slowest across the kill ${slowest} ms; discarded duplicates ${frontend.discardedResults()}`,
    );
    assert.equal(frontend.pendingCount(), 0);
    assert.deepEqual(
      feLogs.filter((l) => l.level >= 50),
      [],
      'front end logged no errors',
    );
  });

  it('SIGSTOP past CLAIM_IDLE_MS then SIGCONT: answered once, late duplicates discarded without error', async () => {
    const frozen = hosts[1]!; // host-b: still running since the start
    const claimedBefore = claimedBy(hosts);
    const discardedBefore = frontend.discardedResults();
    const load = closedLoop(url, image, 24);
    await waitUntil(() => load.samples.length >= 20, 30_000, 'load to be flowing');
    frozen.kill('SIGSTOP');
    try {
      await waitUntil(() => claimedBy(hosts) > claimedBefore, 15_000, "the frozen host's requests to be re-claimed");
    } finally {
      frozen.kill('SIGCONT');
    }
    await waitUntil(
      () => frontend.discardedResults() > discardedBefore,
      10_000,
      "the resumed host's duplicate results to arrive",
    );
    const samples = await load.stop();
    const counts = summarize(samples);
    assert.deepEqual(Object.keys(counts), ['200'], `statuses: ${JSON.stringify(counts)}`);
    const discarded = feLogs.filter((l) => l.msg === 'discarded a result nobody waits for').length;
    console.log(
      `# freeze: ${samples.length} requests, all 200; ${frontend.discardedResults() - discardedBefore} duplicate results discarded`,
    );
    assert.ok(discarded > 0);
    assert.equal(frontend.pendingCount(), 0);
    assert.deepEqual(
      feLogs.filter((l) => l.level >= 50),
      [],
      'front end logged no errors',
    );
  });
});
