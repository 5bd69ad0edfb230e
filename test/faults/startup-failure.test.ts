/**
 * A start-up that fails half way releases what it had opened: a front end whose port is taken rejects, and
 * leaves no Redis connection, listening socket or timer behind (the process's active handles return to what
 * they were before the attempt).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend } from '../../src/frontend/frontend.ts';

/** Active handles by type (FSReqCallback: a file read in flight somewhere, not a handle anyone holds). */
function handles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    if (type !== 'FSReqCallback') counts.set(type, (counts.get(type) ?? 0) + 1);
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
    squatter = createServer();
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
      KEY_PREFIX: 'startup-failure',
      LOG_LEVEL: 'silent',
      HTTP_SERVER: process.env.HTTP_SERVER ?? '',
    });
    const baseline = handles();
    await assert.rejects(startFrontend(config, redis.url, createLogger('test', 'silent')), /cannot listen/);
    assert.deepEqual(await handlesBackTo(baseline), baseline);
  });
});
