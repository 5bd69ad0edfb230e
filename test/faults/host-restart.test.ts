/**
 * A model host that goes away and comes back (as PM2 restarts it): requests arriving while no host is live wait in
 * the stream, within their deadline, and the restarted host answers them (HOST_RESTART_GRACE_MS). 503 NOT_READY at
 * once only when no host served the model within the grace, or for a model no host ever served.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { startModelHost } from '../../src/host/model-host.ts';
import { keysFor, modelKeys } from '../../src/wire/keys.ts';
import { killAll, startHostProcess, waitUntil } from '../helpers/processes.ts';
import { closeLoadAgent, openLoop, postRaw, smallPng, summarize } from '../helpers/load.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';
import { ensureExampleModels } from '../../scripts/lib/example-models.ts';

const silent = createLogger('test', 'silent');

describe('model host restarts', () => {
  let redis: EmbeddedRedis;
  let image: Buffer;
  const frontends: Frontend[] = [];

  before(async () => {
    redis = await startEmbeddedRedis();
    image = await smallPng(64);
  });
  after(async () => {
    await killAll();
    for (const fe of frontends) await fe.close();
    await redis?.stop();
    await closeLoadAgent();
  });

  it('SIGKILL of the only host under load: requests in the gap wait and its replacement answers them', async () => {
    const env = {
      KEY_PREFIX: 'restart-kill',
      HEARTBEAT_MS: '300',
      CLAIM_IDLE_MS: '1500',
      REQUEST_TIMEOUT_MS: '30000',
      HOST_RESTART_GRACE_MS: '30000',
    };
    const fe = await startFrontend(testConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent' }), redis.url, silent);
    frontends.push(fe);
    const url = `http://127.0.0.1:${fe.port}`;
    const host = await startHostProcess('host-1', { ...env, REDIS_URL: redis.url });
    // An open loop, as clients do: requests keep arriving while no host is live.
    const started = Date.now();
    const load = openLoop(url, image, 10, 15_000);
    await waitUntil(() => Date.now() - started > 2000, 5000, 'load to be flowing');
    host.kill('SIGKILL');
    await host.exited;
    // The gap: the dead host's heartbeat has expired and no other host is live.
    await waitUntil(async () => (await fetch(`${url}/readyz`)).status === 503, 10_000, '/readyz to report the gap');
    const gapSeenAt = Date.now();
    await startHostProcess('host-2', { ...env, REDIS_URL: redis.url });
    const replacedAt = Date.now();
    const samples = await load;
    const counts = summarize(samples);
    assert.deepEqual(Object.keys(counts), ['200'], `statuses: ${JSON.stringify(counts)}`);
    const inGap = samples.filter((s) => s.startedAt > gapSeenAt && s.startedAt < replacedAt).length;
    assert.ok(inGap > 0, 'some requests were sent while no host was live');
    console.log(`# kill: ${samples.length} requests, all 200, ${inGap} sent while no host was live`);
    assert.equal(fe.pendingCount(), 0);
  });

  it('refuses at once past the grace, and at once for a model no host ever served', async () => {
    const env = {
      KEY_PREFIX: 'restart-grace',
      MODEL_REPOSITORY: await ensureExampleModels(),
      MODELS: 'default,inception_v3',
      HEARTBEAT_MS: '200',
      REQUEST_TIMEOUT_MS: '20000',
      HOST_RESTART_GRACE_MS: '5000',
      PORT: '0',
      LOG_LEVEL: 'silent',
      PREPROCESS_THREADS: '1',
    };
    const fe = await startFrontend(testConfig(env), redis.url, silent);
    frontends.push(fe);
    const url = `http://127.0.0.1:${fe.port}`;
    const hostConfig = testConfig({ ...env, MODELS: 'default' });
    const never = await postRaw(url, image, 'image/png', '/predict?model=inception_v3');
    assert.deepEqual([never.status, never.code], [503, 'NOT_READY'], 'a model no host ever served: 503');
    assert.ok(never.ms < 2000, `refused at once (${never.ms} ms)`);

    const first = await startModelHost(hostConfig, redis.url, silent);
    assert.equal((await postRaw(url, image)).status, 200);
    const closing = Date.now();
    await first.close();
    // Within the grace the request is queued, not refused; the next host answers it.
    const waiting = postRaw(url, image);
    const stream = modelKeys(keysFor(env.KEY_PREFIX), 'default').requests;
    const client = new Redis(redis.url);
    try {
      await waitUntil(async () => (await client.xlen(stream)) > 0, 5000, 'the request to be queued');
      assert.ok(Date.now() - closing < 5000, 'queued within the grace');
      const second = await startModelHost(hostConfig, redis.url, silent);
      assert.equal((await waiting).status, 200, 'answered by the restarted host');
      await second.close();
      const gone = Date.now();
      await waitUntil(() => Date.now() > gone + 5000, 10_000, 'the grace to pass');
      const late = await postRaw(url, image);
      assert.deepEqual([late.status, late.code], [503, 'NOT_READY'], 'past the grace: 503');
      assert.ok(late.ms < 2000, `refused at once (${late.ms} ms)`);
    } finally {
      client.disconnect();
    }
  });
});
