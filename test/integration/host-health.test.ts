/**
 * A standalone model host's probe endpoints (HOST_HEALTH_PORT): live from the start, ready only once its model is
 * loaded and warm, not ready while it drains; unknown paths 404 and other methods 405, in JSON.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startHealthServer, type HealthServer } from '../../src/host/health-server.ts';
import { freePort } from '../../src/system/ports.ts';
import { killAll, spawnService, type Child } from '../helpers/processes.ts';

const get = async (url: string, method = 'GET') => {
  const res = await fetch(url, { method });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('model host health server', () => {
  let health: HealthServer;
  before(async () => {
    health = await startHealthServer('127.0.0.1', 0);
  });
  after(() => health.close());

  it('is live in every phase and ready only in "ready"', async () => {
    const base = `http://127.0.0.1:${health.port}`;
    for (const phase of ['starting', 'ready', 'draining'] as const) {
      health.setPhase(phase);
      assert.deepEqual(await get(`${base}/livez`), { status: 200, body: { live: true } });
      const ready = await get(`${base}/readyz`);
      assert.deepEqual(ready, { status: phase === 'ready' ? 200 : 503, body: { ready: phase === 'ready', phase } });
    }
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const base = `http://127.0.0.1:${health.port}`;
    assert.equal((await get(`${base}/metrics`)).status, 404);
    assert.equal((await get(`${base}/readyz`, 'POST')).status, 405);
  });
});

describe('a model host process with HOST_HEALTH_PORT', () => {
  let redis: EmbeddedRedis;
  let host: Child;
  let base: string;
  const seen: number[] = [];

  before(async () => {
    redis = await startEmbeddedRedis();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    host = spawnService('host', 'src/host/main.ts', {
      REDIS_URL: redis.url,
      KEY_PREFIX: 'health',
      HOST_HEALTH_PORT: String(port),
    });
    // Poll from spawn until ready: the answers before the model is warm must be 503.
    for (const until = Date.now() + 60_000; Date.now() < until && seen.at(-1) !== 200; ) {
      const status = await fetch(`${base}/readyz`).then(
        (r) => r.arrayBuffer().then(() => r.status),
        () => 0,
      );
      if (status) seen.push(status);
      if (host.proc.exitCode !== null) throw new Error(`host exited: ${host.text.join('\n')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  after(async () => {
    await killAll();
    await redis.stop();
  });

  it('answers 503 while the model loads, then 200 once the host logged ready', async () => {
    assert.equal(seen.at(-1), 200, `statuses seen: ${seen.join(',')}`);
    assert.ok(seen.includes(503), `no 503 before ready: ${seen.join(',')}`);
    assert.ok(host.logs.some((l) => l.msg === 'model host ready'));
    assert.equal((await get(`${base}/livez`)).status, 200);
  });

  it('stops answering once the host has drained and exited on SIGTERM', async () => {
    host.kill('SIGTERM');
    assert.equal(await host.exited, 0);
    await assert.rejects(fetch(`${base}/livez`));
  });
});
