/**
 * One port, one deployment: front ends of one deployment (the same KEY_PREFIX on the same Redis, as PM2 runs
 * them) share their port; a front end of another deployment refuses to start on it (or on its gRPC port), naming
 * the port, and its process exits non-zero; so does one facing another HTTP server there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { freePort } from '../../src/system/ports.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';
import { killAll, spawnService } from '../helpers/processes.ts';

const silent = createLogger('test', 'silent');

describe('a port served by another deployment', () => {
  let redis: EmbeddedRedis;
  let port: number;
  const frontends: Frontend[] = [];
  const config = (prefix: string) =>
    testConfig({ PORT: String(port), KEY_PREFIX: prefix, LOG_LEVEL: 'silent', GRPC_PORT: '0' });

  before(async () => {
    redis = await startEmbeddedRedis();
    port = await freePort();
    frontends.push(await startFrontend(config('guard-a'), redis.url, silent));
  });
  after(async () => {
    await killAll();
    for (const fe of frontends) await fe.close();
    await redis?.stop();
  });

  it('a second front end of the same deployment shares the port', async () => {
    const second = await startFrontend(config('guard-a'), redis.url, silent);
    frontends.push(second);
    assert.equal(second.port, port);
    // The first one gone, the port is still served: the second one listens on it too.
    const first = frontends.shift()!;
    await first.close();
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  it('a front end of another deployment refuses it, naming the port, and its process exits 1', async () => {
    await assert.rejects(
      startFrontend(config('guard-b'), redis.url, silent),
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is served by another deployment`),
    );
    const child = spawnService('other-deployment', 'src/frontend/main.ts', {
      REDIS_URL: redis.url,
      PORT: String(port),
      KEY_PREFIX: 'guard-c',
      GRPC_PORT: '0',
    });
    assert.equal(await child.exited, 1);
    assert.ok(
      child.text.some((l) => l.includes(`start-up failed: port ${port} on 127.0.0.1 is served by another deployment`)),
      child.text.join('\n'),
    );
  });

  it('refuses a gRPC port another front end listens on, naming GRPC_PORT (grpc-js binds without SO_REUSEPORT)', async () => {
    const grpcPort = await freePort();
    const grpcConfig = (prefix: string) =>
      testConfig({ PORT: '0', KEY_PREFIX: prefix, LOG_LEVEL: 'silent', GRPC_PORT: String(grpcPort) });
    const first = await startFrontend(grpcConfig('guard-g1'), redis.url, silent);
    frontends.push(first);
    await assert.rejects(
      startFrontend(grpcConfig('guard-g2'), redis.url, silent),
      new RegExp(`gRPC: cannot listen on 127\\.0\\.0\\.1:${grpcPort} \\(GRPC_PORT=${grpcPort}`),
    );
  });

  it('refuses a port another HTTP server answers on', async (t) => {
    const other: Server = createServer((_req, res) => res.end('not us'));
    const otherPort = await freePort();
    await new Promise<void>((resolve) => other.listen(otherPort, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => other.close(resolve)));
    await assert.rejects(
      startFrontend(
        testConfig({ PORT: String(otherPort), KEY_PREFIX: 'guard-a', LOG_LEVEL: 'silent', GRPC_PORT: '0' }),
        redis.url,
        silent,
      ),
      new RegExp(`port ${otherPort} on 127\\.0\\.0\\.1 is served by another deployment or another HTTP server`),
    );
  });
});
