/**
 * REDIS_URL forms reach the driver intact: password and db in redis://, TLS in rediss://, and unix:// sockets
 * with a password (parsed by connect.ts, ioredis cannot) — the last against a real redis-server on a socket.
 */
import type { Cluster, Redis } from 'ioredis';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  configuredRedisTarget,
  connectRedis,
  describeTarget,
  parseNodeList,
  unixSocketOptions,
  whenReady,
} from '../../src/redis/connect.ts';
import { createLogger } from '../../src/observability/logger.ts';

const log = createLogger('test', 'silent');

it('passes credentials, db and TLS of redis:// and rediss:// URLs to ioredis', () => {
  const tls = connectRedis('rediss://svc:p%40ss@redis.example:6380/2', 't', log, { lazyConnect: true });
  assert.ok(tls.options.tls, 'rediss:// means TLS');
  assert.equal(tls.options.username, 'svc');
  assert.equal(tls.options.password, 'p@ss');
  assert.equal(tls.options.port, 6380);
  assert.equal(tls.options.db, 2);
  assert.equal(tls.options.enableOfflineQueue, false);
  tls.disconnect();
  const plain = connectRedis('redis://:secret@127.0.0.1:1234', 't', log, { lazyConnect: true });
  assert.ok(!plain.options.tls);
  assert.equal(plain.options.password, 'secret');
  plain.disconnect();
});

it('parses unix:// URLs with a password and db', () => {
  assert.deepEqual(unixSocketOptions('unix:///run/redis.sock'), { path: '/run/redis.sock' });
  assert.deepEqual(unixSocketOptions('unix://:p%2Fw@/run/redis.sock?db=3'), {
    path: '/run/redis.sock',
    password: 'p/w',
    db: 3,
  });
  assert.deepEqual(unixSocketOptions('unix://app:pw@/run/redis.sock'), {
    path: '/run/redis.sock',
    username: 'app',
    password: 'pw',
  });
  assert.equal(unixSocketOptions('redis://127.0.0.1'), undefined);
});

it('connects over a unix socket with a password', async () => {
  const socket = join(tmpdir(), `redis-${randomBytes(4).toString('hex')}.sock`);
  const password = randomBytes(9).toString('base64url');
  const server = spawn(
    'redis-server',
    ['--port', '0', '--unixsocket', socket, '--requirepass', password, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (/ready to accept connections/i.test(out)) resolve();
      });
      server.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
    });
    const redis = connectRedis(`unix://:${encodeURIComponent(password)}@${socket}`, 't', log);
    await whenReady(redis, 5000);
    assert.equal(await redis.ping(), 'PONG');
    redis.disconnect();
  } finally {
    server.kill('SIGKILL');
  }
});

it('reads cluster and sentinel node lists with the first entry credentials and TLS', () => {
  const cluster = configuredRedisTarget({
    REDIS_CLUSTER_NODES: 'rediss://app:p%40ss@10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002',
    REDIS_SENTINEL_MASTER: 'mymaster',
  });
  assert.deepEqual(cluster, {
    kind: 'cluster',
    nodes: [
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ],
    auth: { tls: true, username: 'app', password: 'p@ss' },
  });
  const sentinel = configuredRedisTarget({
    REDIS_SENTINELS: '127.0.0.1:26379,127.0.0.1:26380',
    REDIS_SENTINEL_MASTER: 'main',
    REDIS_SENTINEL_PASSWORD: 's',
  });
  assert.deepEqual(sentinel, {
    kind: 'sentinel',
    name: 'main',
    sentinelPassword: 's',
    auth: { tls: false },
    sentinels: [
      { host: '127.0.0.1', port: 26379 },
      { host: '127.0.0.1', port: 26380 },
    ],
  });
  assert.equal(configuredRedisTarget({ REDIS_URL: 'redis://x:1', REDIS_SENTINEL_MASTER: 'm' }), 'redis://x:1');
  assert.equal(configuredRedisTarget({ REDIS_SENTINEL_MASTER: 'm' }), undefined);
  assert.throws(() => parseNodeList('http://x:1'), /not a redis/);
  assert.throws(() => parseNodeList('x'), /host:port/);
  assert.equal(describeTarget('redis://:secret@h:1'), 'redis://h:1');
});

it('gives every cluster node the credentials and TLS, with no offline queue, and sentinels the primary name', () => {
  const target = configuredRedisTarget({
    REDIS_CLUSTER_NODES: 'rediss://app:pw@10.0.0.1:7000,10.0.0.2:7000',
    REDIS_SENTINEL_MASTER: 'm',
  })!;
  const cluster = connectRedis(target, 't', log, { lazyConnect: true }) as Cluster;
  assert.equal(cluster.options.enableOfflineQueue, false);
  assert.equal(cluster.options.redisOptions?.username, 'app');
  assert.equal(cluster.options.redisOptions?.password, 'pw');
  assert.ok(cluster.options.redisOptions?.tls, 'rediss:// means TLS on every node');
  cluster.disconnect();
  const sentinel = connectRedis(
    {
      kind: 'sentinel',
      sentinels: [{ host: '10.0.0.3', port: 26379 }],
      name: 'main',
      auth: { tls: false, password: 'pw' },
    },
    't',
    log,
    { lazyConnect: true },
  ) as Redis;
  assert.equal(sentinel.options.name, 'main');
  assert.equal(sentinel.options.password, 'pw');
  assert.equal(sentinel.options.enableOfflineQueue, false);
  sentinel.disconnect();
});
