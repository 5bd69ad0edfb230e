/**
 * Sentinel: one primary, one replica, three sentinels on loopback (down-after 1 s). The service configured with
 * REDIS_SENTINELS and REDIS_SENTINEL_MASTER; the primary killed with SIGKILL under load: every request answered
 * 200, or 503/504 within its deadline, and normal service again on the promoted replica without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closedLoop, closeLoadAgent, postRaw, smallPng } from '../helpers/load.ts';
import { waitUntil } from '../helpers/processes.ts';
import { startSentinels, type SentinelSet } from '../../scripts/lib/redis-topology.ts';
import { followFailover, startServiceOn, type ServiceOnTopology } from './service-on-topology.ts';

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
    const { report, summary } = await followFailover(
      load,
      killedAt,
      async () => (await set!.currentPrimaryPort().catch(() => set!.primary.port)) === set!.replica.port,
      REQUEST_TIMEOUT_MS,
    );
    console.log(`# sentinel failover: ${summary}`);
    assert.deepEqual(report.unexpected, [], 'only 200, 503 and 504');
    assert.deepEqual(report.beyondDeadline, [], 'none answered past its deadline');
  });
});
