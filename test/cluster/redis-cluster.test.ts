/**
 * A real Redis Cluster (3 primaries, 3 replicas, cluster-node-timeout 1 s) on loopback: the service configured
 * with REDIS_CLUSTER_NODES naming any one node, REQUEST_SHARDS=3 spreading requests over all three primaries,
 * and the primary of a busy shard killed with SIGKILL under load: every request answered 200, or 503/504 within
 * its deadline, and normal service again after the replica's promotion, without restarting anything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keysFor, slotOf } from '../../src/wire/keys.ts';
import { closedLoop, closeLoadAgent, postRaw, smallPng } from '../helpers/load.ts';
import { waitUntil } from '../helpers/processes.ts';
import { startRedisCluster, type RedisCluster } from '../../scripts/lib/redis-topology.ts';
import { followFailover, startServiceOn, type ServiceOnTopology } from './service-on-topology.ts';

const REQUEST_TIMEOUT_MS = 4000;

function commandCalls(info: string, command: string): number {
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

describe('Redis Cluster: 3 primaries + 3 replicas', { timeout: 150_000 }, () => {
  let cluster: RedisCluster | undefined;
  let svc: ServiceOnTopology | undefined;
  let image: Buffer;
  const seed = (port: number) => `redis://:${cluster!.password}@127.0.0.1:${port}`;

  before(async () => {
    cluster = await startRedisCluster({ nodeTimeoutMs: 1000 });
    image = await smallPng(64);
    const primaries = new Set((await cluster.primaries()).map((n) => n.port));
    const replica = cluster.nodes.find((n) => !primaries.has(n.port))!;
    // Seeded with one replica only: the client discovers the rest (and follows MOVED) by itself.
    svc = await startServiceOn({
      REDIS_CLUSTER_NODES: seed(replica.port),
      REQUEST_SHARDS: '3',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      CLAIM_IDLE_MS: '2000',
      HEARTBEAT_MS: '300',
    });
  });
  after(async () => {
    await svc?.close();
    await cluster?.stop();
    await closeLoadAgent();
  });

  it('serves with REDIS_CLUSTER_NODES naming any one node', async () => {
    for (const node of cluster!.nodes) {
      const fe = await svc!.addFrontend({ REDIS_CLUSTER_NODES: seed(node.port) });
      for (let i = 0; i < 3; i++) {
        const s = await postRaw(`http://127.0.0.1:${fe.port}`, image);
        assert.equal(s.status, 200, `seed ${node.port}: ${s.status} ${s.code}`);
      }
      await fe.close();
    }
  });

  it('with REQUEST_SHARDS=3, requests reach all three primaries (INFO commandstats)', async () => {
    const primaries = await cluster!.primaries();
    assert.equal(primaries.length, 3);
    const keys = keysFor(svc!.config.KEY_PREFIX, 3);
    const owners = await Promise.all(keys.shards.map((s) => cluster!.primaryOf(slotOf(s.requests))));
    assert.equal(new Set(owners.map((n) => n.port)).size, 3, 'each shard on its own primary');
    await Promise.all(primaries.map((n) => cluster!.nodeClient(n).config('RESETSTAT')));
    for (let i = 0; i < 30; i++) assert.equal((await postRaw(svc!.url, image)).status, 200);
    for (const node of primaries) {
      const info = await cluster!.nodeClient(node).info('commandstats');
      const stats = {
        evalsha: commandCalls(info, 'evalsha'),
        xadd: commandCalls(info, 'xadd'),
        xreadgroup: commandCalls(info, 'xreadgroup'),
        xack: commandCalls(info, 'xack'),
      };
      console.log(`# primary ${node.port}: ${JSON.stringify(stats)}`);
      assert.ok(
        stats.xadd > 0 && stats.xack > 0 && stats.xreadgroup > 0,
        `primary ${node.port} carried requests: ${JSON.stringify(stats)}`,
      );
    }
  });

  it("kill -9 of a busy shard's primary under load: answered 200/503/504 by the deadline, normal again after promotion", async () => {
    const keys = keysFor(svc!.config.KEY_PREFIX, 3);
    // Shard 0's primary also holds the host registry: the hardest one to lose.
    const slot = slotOf(keys.shards[0]!.requests);
    const victim = await cluster!.primaryOf(slot);
    const load = closedLoop(svc!.url, image, 8);
    await waitUntil(() => load.samples.filter((s) => s.status === 200).length >= 30, 30_000, 'load to be flowing');
    const busy = load.samples.length;
    const killedAt = Date.now();
    victim.kill();
    const run = await followFailover(
      load,
      killedAt,
      async () => (await cluster!.primaryOf(slot).catch(() => victim)).port !== victim.port,
      REQUEST_TIMEOUT_MS,
    );
    console.log(`# cluster failover (${busy} requests before the kill): ${run.summary}`);
    const { report, samples } = run;
    assert.deepEqual(report.unexpected, [], 'only 200, 503 and 504');
    assert.deepEqual(report.beyondDeadline, [], 'none answered past its deadline');
    assert.ok(samples.some((s) => s.startedAt > killedAt + run.promotedAfterMs && s.status === 200));
  });
});
