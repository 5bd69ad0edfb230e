/**
 * GET /metrics reads every request stream a model has: its versions' streams (`model@2`) too, for each version a
 * host reports, not only the model's first stream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { encodeHeartbeat } from '../../src/wire/heartbeat.ts';
import { keysFor, modelKeys } from '../../src/wire/keys.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';
import { publishVersion } from '../helpers/versioned-repo.ts';
import { waitUntil } from '../helpers/processes.ts';

describe('queue metrics of a versioned model', () => {
  let redis: EmbeddedRedis;
  let client: Redis;
  let frontend: Frontend;
  let repo: string;
  const prefix = 'queue-metrics';
  const keys = keysFor(prefix);

  before(async () => {
    repo = await mkdtemp(join(tmpdir(), 'queue-metrics-'));
    await publishVersion(join(repo, 'cats'), 1, 'normal');
    await publishVersion(join(repo, 'cats'), 2, 'normal');
    redis = await startEmbeddedRedis();
    client = new Redis(redis.url);
    const config = testConfig({ PORT: '0', KEY_PREFIX: prefix, MODEL_REPOSITORY: repo, LOG_LEVEL: 'silent' });
    frontend = await startFrontend(config, redis.url, createLogger('test', 'silent'));
  });
  after(async () => {
    client?.disconnect();
    await frontend?.close();
    await redis?.stop();
    await rm(repo, { recursive: true, force: true });
  });

  it('counts the entries of every version a host reports', async () => {
    // A host reporting both versions ready (its heartbeat), and requests waiting in both versions' streams.
    const versions = {
      cats: [
        { version: 1, state: 'ready' as const },
        { version: 2, state: 'ready' as const },
      ],
    };
    await client
      .multi()
      .zadd(keys.registry, Date.now() + 60_000, 'host-1')
      .hset(keys.hostInfo('host-1'), encodeHeartbeat({ startedAt: 0, heartbeatAt: Date.now(), models: [], versions }))
      .exec();
    await client.xadd(modelKeys(keys, 'cats').requests, '*', 'm', 'x');
    for (let i = 0; i < 2; i++) await client.xadd(modelKeys(keys, 'cats@2').requests, '*', 'm', 'x');
    const url = `http://127.0.0.1:${frontend.port}/metrics`;
    let text = '';
    await waitUntil(
      async () => {
        text = await (await fetch(url)).text();
        return text.includes('classify_queue_depth{model="cats@2"}');
      },
      10_000,
      "the front end's view to list version 2",
    );
    assert.match(text, /^classify_queue_depth\{model="cats"\} 1$/m);
    assert.match(text, /^classify_queue_depth\{model="cats@2"\} 2$/m);
    assert.match(text, /^classify_queue_pending\{model="cats@2"\} 0$/m);
  });
});
