/**
 * A model host's start with every model kept unloaded through the management API: it starts serving nothing
 * (no TypeError, nothing left half-open), is registered, and serves the model once a load command arrives.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startModelHost } from '../../src/host/model-host.ts';
import { readHosts } from '../../src/registry/host-registry.ts';
import { keysFor } from '../../src/wire/keys.ts';
import { managementKeys, type ModelControl } from '../../src/wire/management.ts';
import { waitUntil } from '../helpers/processes.ts';

describe('model host start', () => {
  let redis: EmbeddedRedis;
  let client: Redis;
  before(async () => {
    redis = await startEmbeddedRedis();
    client = new Redis(redis.url);
  });
  after(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('with every model kept unloaded: serves nothing, is registered, and loads on command', async (t) => {
    const config = loadConfig({ MODEL_DIR: 'models/default', KEY_PREFIX: 'host-start', LOG_LEVEL: 'silent' });
    const keys = keysFor(config.KEY_PREFIX);
    const names = managementKeys(keys);
    const unload: ModelControl = { action: 'unload', id: 'u1', by: 'test', at: Date.now() };
    await client.hset(names.control, 'default', JSON.stringify(unload));

    const host = await startModelHost(config, redis.url, createLogger('test', 'silent'));
    t.after(() => host.close());
    assert.deepEqual(host.models(), []);
    const [registered] = await readHosts(client, keys);
    assert.equal(registered?.id, host.id);
    assert.deepEqual(registered?.models, []);

    const load: ModelControl = { action: 'load', id: 'l1', by: 'test', at: Date.now() };
    await client.hset(names.control, 'default', JSON.stringify(load));
    await client.publish(names.channel, JSON.stringify({ ...load, model: 'default' }));
    await waitUntil(() => host.models().length === 1, 60_000, 'the loaded model to be served');
    assert.equal(host.models()[0]!.name, 'default');
  });
});
