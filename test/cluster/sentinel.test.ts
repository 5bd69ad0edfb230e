/**
 * Sentinel: one primary, one replica, three sentinels on loopback (down-after 1 s). The service configured with
 * REDIS_SENTINELS and REDIS_SENTINEL_MASTER; the primary killed with SIGKILL under load: every request answered
 * 200, or 503/504 within its deadline, and normal service again on the promoted replica without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closedLoop, closeLoadAgent, postRaw, smallPng } from '../helpers/load.ts';
import { sleep, waitUntil } from '../helpers/processes.ts';
import { startSentinels, type SentinelSet } from './redis-topology.ts';
import { failoverReport, servingNormally, startServiceOn, type ServiceOnTopology } from './service-on-topology.ts';

const REQUEST_TIMEOUT_MS = 4000;

describe('Sentinel: primary + replica + 3 sentinels', { timeout: 120_000 }, () => {
  let set: SentinelSet | undefined;
  let svc: ServiceOnTopology | undefined;
  let image: Buffer;

  before(async () => {
    set = await startSentinels({ downAfterMs: 1000 });
    image = await smallPng(64);
    svc = await startServiceOn({
      REDIS_SENTINELS:
        `redis://:${set.password}@127.0.0.1:${set.sentinels[0]!.port},` +
        set.sentinels
          .slice(1)
          .map((s) => `127.0.0.1:${s.port}`)
          .join(','),
      REDIS_SENTINEL_MASTER: set.masterName,
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      CLAIM_IDLE_MS: '2000',
      HEARTBEAT_MS: '300',
    });
  });
  after(async () => {
    await svc?.close();
    await set?.stop();
    await closeLoadAgent();
  });

  it('serves through the primary the sentinels name', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await postRaw(svc!.url, image)).status, 200);
  });

  it('kill -9 of the primary under load: answered 200/503/504 by the deadline, normal again on the new primary', async () => {
    const load = closedLoop(svc!.url, image, 8);
    await waitUntil(() => load.samples.filter((s) => s.status === 200).length >= 30, 30_000, 'load to be flowing');
    const killedAt = Date.now();
    set!.primary.kill();
    await waitUntil(
      async () => (await set!.currentPrimaryPort().catch(() => set!.primary.port)) === set!.replica.port,
      30_000,
      'the sentinels to promote the replica',
    );
    const promotedAt = Date.now();
    await waitUntil(
      () => servingNormally(load.samples, promotedAt),
      20_000,
      '20 answers in a row to be 200 after the promotion',
    );
    const normalAt = Date.now();
    await sleep(1000);
    const samples = await load.stop();
    const report = failoverReport(samples, killedAt, REQUEST_TIMEOUT_MS);
    console.log(
      `# sentinel failover: ${samples.length} requests ${JSON.stringify(report.counts)}; ` +
        `promoted after ${promotedAt - killedAt} ms; normal again ${normalAt - killedAt} ms after the kill; ` +
        `non-200 window ${report.window ? `${report.window.fromMs}..${report.window.toMs} ms` : 'none'}; slowest ${report.slowestMs} ms`,
    );
    assert.deepEqual(report.unexpected, [], 'only 200, 503 and 504');
    assert.deepEqual(report.beyondDeadline, [], 'none answered past its deadline');
  });
});
