import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { configKeys, HOST_RESTART_GRACE_DEFAULT_MS, loadConfig } from '../../src/config/config.ts';
import { deploymentKeys, loadDeploymentConfig } from '../../src/config/deployment.ts';

describe('loadConfig', () => {
  it('has safe defaults and is frozen', () => {
    const c = loadConfig({});
    assert.equal(c.PORT, 8080);
    assert.equal(c.HOST, '127.0.0.1');
    assert.equal(c.MAX_BATCH, 8);
    assert.equal(c.BODY_LIMIT_BYTES, 10 * 1024 * 1024);
    assert.equal(c.REDIS_URL, undefined);
    assert.ok(Object.isFrozen(c));
  });

  it('GRPC_PORT: a port, or off', () => {
    assert.equal(loadConfig({}).GRPC_PORT, 8001);
    assert.equal(loadConfig({ GRPC_PORT: 'off' }).GRPC_PORT, 'off');
    assert.equal(loadConfig({ GRPC_PORT: '0' }).GRPC_PORT, 0);
  });

  it('reads numbers from strings and treats empty values as unset', () => {
    const c = loadConfig({ PORT: '9000', MAX_BATCH: '8', KEY_PREFIX: '' });
    assert.equal(c.PORT, 9000);
    assert.equal(c.MAX_BATCH, 8);
    assert.equal(c.KEY_PREFIX, 'cls');
  });

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /PORT="abc"/],
    [{ PORT: '70000' }, /PORT="70000"/],
    [{ MAX_BATCH: '0' }, /MAX_BATCH="0"/],
    [{ MAX_BATCH_DELAY_MS: '-1' }, /MAX_BATCH_DELAY_MS/],
    [{ REDIS_URL: 'http://localhost' }, /REDIS_URL.*redis:\/\//],
    [{ KEY_PREFIX: 'a b' }, /KEY_PREFIX/],
    [{ ENGINE: 'gpu' }, /ENGINE="gpu"/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ BATCH_BUFFERS: '1' }, /BATCH_BUFFERS/],
    [{ BODY_LIMIT_BYTES: '10' }, /BODY_LIMIT_BYTES/],
    [{ MAX_JPEG_SCANS: '0' }, /MAX_JPEG_SCANS="0"/],
    [{ JPEG_DCT_SCALING: 'yes' }, /JPEG_DCT_SCALING="yes"/],
    [{ METRICS_KEY: 'short' }, /METRICS_KEY="short": 16-256 characters/],
    [{ KEY_RATE_LIMIT_RPS: '-1' }, /KEY_RATE_LIMIT_RPS/],
    [{ KEY_RATE_BURST: '0' }, /KEY_RATE_BURST/],
    [{ MAX_QUEUE_BYTES: '0' }, /MAX_QUEUE_BYTES="0"/],
    [
      { MAX_QUEUE_BYTES: String(16 * 1024 * 1024) },
      /MAX_QUEUE_BYTES="16777216": each of REQUEST_SHARDS=1 shards gets 16777216 bytes, less than 2 × BODY_LIMIT_BYTES/,
    ],
    [{ MAX_QUEUE_BYTES: String(256 * 1024 * 1024), REQUEST_SHARDS: '16' }, /MAX_QUEUE_BYTES=.*REQUEST_SHARDS=16/],
    [{ MAX_MULTIPART_PARTS: '0' }, /MAX_MULTIPART_PARTS="0"/],
    [{ MAX_INFLIGHT_BODY_BYTES: '100' }, /MAX_INFLIGHT_BODY_BYTES="100"/],
    [{ BODY_POOL_BYTES: '-1' }, /BODY_POOL_BYTES="-1"/],
    [{ HOST_RESTART_GRACE_MS: '10001' }, /HOST_RESTART_GRACE_MS="10001": more than REQUEST_TIMEOUT_MS \(10000\)/],
    [{ HOST_RESTART_GRACE_MS: '3000', REQUEST_TIMEOUT_MS: '2000' }, /HOST_RESTART_GRACE_MS="3000"/],
    [{ GRPC_PORT: 'on' }, /GRPC_PORT="on"/],
    [{ GRPC_PORT: '65535', FRONTEND_INDEX: '1' }, /GRPC_PORT="65535": GRPC_PORT \+ FRONTEND_INDEX \(1\) is past 65535/],
    [{ FRONTEND_INDEX: '-1' }, /FRONTEND_INDEX="-1"/],
    [{ GRPC_MAX_CONCURRENT_STREAMS: '0' }, /GRPC_MAX_CONCURRENT_STREAMS="0"/],
  ];
  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env)} naming the variable`, () => {
      assert.throws(() => loadConfig(env), message);
    });
  }

  it('waits for a restarting host at most a request deadline, by default and when set', () => {
    assert.equal(loadConfig({}).HOST_RESTART_GRACE_MS, HOST_RESTART_GRACE_DEFAULT_MS);
    assert.ok(HOST_RESTART_GRACE_DEFAULT_MS <= loadConfig({}).REQUEST_TIMEOUT_MS);
    assert.equal(loadConfig({ REQUEST_TIMEOUT_MS: '4000' }).HOST_RESTART_GRACE_MS, 4000);
    assert.equal(loadConfig({ HOST_RESTART_GRACE_MS: '0' }).HOST_RESTART_GRACE_MS, 0);
    assert.equal(loadDeploymentConfig({ REQUEST_TIMEOUT_MS: '4000' }).service.HOST_RESTART_GRACE_MS, 4000);
    assert.throws(() => loadDeploymentConfig({ HOST_RESTART_GRACE_MS: '20000' }), /HOST_RESTART_GRACE_MS="20000"/);
  });

  it('reports every bad variable at once', () => {
    assert.throws(
      () => loadConfig({ PORT: 'x', MAX_BATCH: '0', ENGINE: 'gpu' }),
      (err: Error) => /PORT/.test(err.message) && /MAX_BATCH/.test(err.message) && /ENGINE/.test(err.message),
    );
  });

  it("documents every variable in docs/configuration.md's and docs/deployment.md's tables", async () => {
    const tables = ['configuration', 'deployment'].map((doc) => new URL(`../../docs/${doc}.md`, import.meta.url));
    const docs = (await Promise.all(tables.map((url) => readFile(url, 'utf8')))).join('\n');
    for (const key of [...configKeys, ...deploymentKeys]) {
      assert.match(docs, new RegExp(`\\| \`${key}\` \\|`), `the docs lack ${key}`);
    }
  });
});

describe('loadDeploymentConfig', () => {
  it("keeps the front ends' gRPC ports (GRPC_PORT + 0..FRONTENDS-1) clear of every other port", () => {
    assert.doesNotThrow(() => loadDeploymentConfig({ FRONTENDS: '64' }));
    const bad: Array<[Record<string, string>, RegExp]> = [
      [
        { FRONTENDS: '4', NGINX_PORT: '8003' },
        /GRPC_PORT="8001": the front ends' gRPC ports 8001-8004 .* include NGINX_PORT \(8003\)/,
      ],
      [{ FRONTENDS: '80' }, /include PORT \(8080\)/],
      [{ GRPC_PORT: '8100', NGINX_GRPC_PORT: '8101', FRONTENDS: '2' }, /include NGINX_GRPC_PORT \(8101\)/],
      [{ GRPC_PORT: '65535', FRONTENDS: '2' }, /run past 65535/],
      [{ NGINX_GRPC_PORT: '8000' }, /NGINX_GRPC_PORT="8000": the same as NGINX_PORT/],
    ];
    for (const [env, message] of bad) assert.throws(() => loadDeploymentConfig(env), message, JSON.stringify(env));
    assert.doesNotThrow(() => loadDeploymentConfig({ GRPC_PORT: 'off', NGINX_GRPC_PORT: '8000' }));
  });

  it("reports the topology's and the service's bad variables in one message", () => {
    assert.throws(
      () => loadDeploymentConfig({ FRONTENDS: 'abc', PORT: 'x', NGINX_PORT: '0' }),
      (err: Error) =>
        /^invalid configuration:/.test(err.message) &&
        /FRONTENDS="abc"/.test(err.message) &&
        /PORT="x"/.test(err.message) &&
        /NGINX_PORT="0"/.test(err.message),
    );
  });

  it('gives each model host its share of the cores unless PREPROCESS_THREADS is set', () => {
    const shared = loadDeploymentConfig({ MODEL_HOSTS: '1' });
    assert.equal(shared.preprocessThreadsPerHost, loadConfig({}).PREPROCESS_THREADS);
    assert.equal(shared.service.PREPROCESS_THREADS, shared.preprocessThreadsPerHost);
    assert.equal(loadDeploymentConfig({ MODEL_HOSTS: '64', PREPROCESS_THREADS: '3' }).preprocessThreadsPerHost, 3);
    assert.equal(loadDeploymentConfig({ MODEL_HOSTS: '1024' }).preprocessThreadsPerHost, 1);
  });
});
