/**
 * A start-up that fails half way releases what it had opened: a front end whose port is taken, or a model host
 * one of whose models cannot load, rejects and leaves no Redis connection, listening socket, thread or timer
 * behind (the process's active handles return to what they were before the attempt).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend } from '../../src/frontend/frontend.ts';
import { startModelHost } from '../../src/host/model-host.ts';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { keysFor } from '../../src/wire/keys.ts';

/** Requests in flight, not handles anyone holds: a file read somewhere, a socket being closed. */
const TRANSIENT = new Set(['FSReqCallback', 'CloseReq']);

/** Active handles by type. */
function handles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    if (!TRANSIENT.has(type)) counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}

/** Waits (bounded) until the handles are back to `baseline`; ioredis ends a socket within its disconnect timeout. */
async function handlesBackTo(baseline: Map<string, number>, timeoutMs = 10_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let now = handles();
  while (Date.now() < deadline) {
    now = handles();
    if ([...new Set([...baseline.keys(), ...now.keys()])].every((k) => (baseline.get(k) ?? 0) === (now.get(k) ?? 0)))
      break;
    await sleep(50);
  }
  return now;
}

describe('a failed start-up releases everything', () => {
  let redis: EmbeddedRedis;
  let squatter: Server;
  let takenPort: number;
  before(async () => {
    redis = await startEmbeddedRedis();
    // Something else on the port: it drops every connection (the front end's probe of who serves the port too).
    squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    takenPort = (squatter.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((resolve) => squatter?.close(resolve));
    await redis?.stop();
  });

  it('a front end whose port is in use rejects and leaves no handle open', async () => {
    const config = loadConfig({
      PORT: String(takenPort),
      GRPC_PORT: '0',
      KEY_PREFIX: 'startup-failure',
      LOG_LEVEL: 'silent',
      HTTP_SERVER: process.env.HTTP_SERVER ?? '',
    });
    const baseline = handles();
    await assert.rejects(
      startFrontend(config, redis.url, createLogger('test', 'silent')),
      new RegExp(`port ${takenPort} on 127\\.0\\.0\\.1 is in use`),
    );
    assert.deepEqual(await handlesBackTo(baseline), baseline);
  });

  it('a model host one of whose models cannot load rejects, withdraws, and leaves no handle open', async (t) => {
    const repo = await mkdtemp(join(tmpdir(), 'startup-failure-'));
    t.after(() => rm(repo, { recursive: true, force: true }));
    for (const name of ['default', 'broken']) await mkdir(join(repo, name));
    for (const file of ['metadata.json', 'model.json', 'group1-shard1of1.bin', 'model.onnx'])
      await copyFile(join('models/default', file), join(repo, 'default', file));
    await copyFile('models/default/metadata.json', join(repo, 'broken', 'metadata.json'));
    await writeFile(join(repo, 'broken', 'model.json'), 'not a model');
    await writeFile(join(repo, 'broken', 'model.onnx'), 'not a model');
    const config = loadConfig({ MODEL_REPOSITORY: repo, KEY_PREFIX: 'startup-failure-host', LOG_LEVEL: 'silent' });
    const baseline = handles();
    // The default model loads first and is announced; the broken one fails the start-up.
    await assert.rejects(startModelHost(config, redis.url, createLogger('test', 'silent')), /model broken: no version/);
    assert.deepEqual(await handlesBackTo(baseline), baseline);
    const client = new Redis(redis.url);
    try {
      const keys = keysFor(config.KEY_PREFIX);
      assert.deepEqual(await client.zrangebyscore(keys.registry, Date.now(), '+inf'), [], 'no live host left behind');
      const names = (await client.client('LIST')) as string;
      assert.doesNotMatch(names, /name=host:/, 'every connection of the host is closed');
    } finally {
      client.disconnect();
    }
  });
});
