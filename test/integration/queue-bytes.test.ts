/**
 * Bytes, not only counts (issue 12, concerns): admission refuses past MAX_QUEUE_BYTES, the private Redis runs
 * with a maxmemory derived from it and noeviction, a Redis refusal for memory (OOM) is answered 503 OVERLOADED
 * with Retry-After, and the private Redis's password never appears on its command line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { admitRequest } from '../../src/frontend/admission.ts';
import { encodeRequest } from '../../src/wire/envelope.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { connectRedis, whenReady } from '../../src/redis/connect.ts';
import {
  privateRedisConf,
  privateRedisMaxmemory,
  startEmbeddedRedis,
  type EmbeddedRedis,
} from '../../src/redis/embedded.ts';
import { keysFor } from '../../src/wire/keys.ts';
import { EXAMPLES, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const MiB = 1024 * 1024;
const log = createLogger('test', 'silent');

describe('the private Redis', () => {
  let redis: EmbeddedRedis;
  let scratch: string;
  before(async () => {
    // A stand-in binary that records how the settings file was handed over, then becomes redis-server.
    scratch = await mkdtemp(join(tmpdir(), 'queue-bytes-test-'));
    const wrapper = join(scratch, 'redis-wrapper.sh');
    await writeFile(
      wrapper,
      `#!/bin/sh\nstat -c '%a' "$1" "$(dirname "$1")" > "${join(scratch, 'modes')}"\nexec redis-server "$@"\n`,
    );
    await chmod(wrapper, 0o755);
    redis = await startEmbeddedRedis({ maxQueueBytes: 32 * MiB, binary: wrapper });
  });
  after(async () => {
    await redis?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('keeps its password off the command line, in a 0600 file in a 0700 directory deleted once it runs', async () => {
    const password = decodeURIComponent(new URL(redis.url).password);
    assert.ok(password.length >= 20);
    const cmdline = readFileSync(`/proc/${redis.process.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(
      cmdline.some((arg) => /redis-server|redis-wrapper/.test(arg)),
      cmdline.join(' '),
    );
    assert.ok(!cmdline.join(' ').includes(password), `password on the command line: ${cmdline.join(' ')}`);
    assert.deepEqual((await readFile(join(scratch, 'modes'), 'utf8')).trim().split('\n'), ['600', '700']);
    const client = new Redis(redis.url, { lazyConnect: true });
    try {
      await client.connect();
      const info = await client.info('server');
      const configFile = /^config_file:(.*)$/m.exec(info)?.[1]?.trim();
      assert.ok(configFile, 'redis-server reports its settings file');
      assert.equal(existsSync(configFile), false, 'the settings file (with the password) is gone');
    } finally {
      client.disconnect();
    }
  });

  it('refuses clients without the password', async () => {
    const sock = connect(redis.port, '127.0.0.1');
    const reply = await new Promise<string>((resolve, reject) => {
      sock.once('error', reject);
      sock.once('data', (d) => resolve(d.toString()));
      sock.write('GET x\r\n');
    }).finally(() => sock.destroy());
    assert.match(reply, /^-NOAUTH/);
  });

  it('runs with maxmemory derived from MAX_QUEUE_BYTES and noeviction', async () => {
    const client = new Redis(redis.url);
    try {
      const [, maxmemory] = (await client.config('GET', 'maxmemory')) as [string, string];
      const [, policy] = (await client.config('GET', 'maxmemory-policy')) as [string, string];
      assert.equal(Number(maxmemory), privateRedisMaxmemory(32 * MiB));
      assert.equal(policy, 'noeviction');
    } finally {
      client.disconnect();
    }
  });

  it('quotes the settings it writes, so a password cannot add a directive', () => {
    const conf = privateRedisConf({ port: 1, password: 'a"\nmaxmemory 1\\', maxmemoryBytes: 5, dir: '/tmp' });
    assert.match(conf, /^requirepass "a\\"\\nmaxmemory 1\\\\"$/m);
    assert.equal(conf.match(/^maxmemory /gm)?.length, 1);
  });
});

const entryOf = (image: Buffer) =>
  encodeRequest({ id: 'x', topk: 1, deadline: Date.now() + 60_000, replyTo: 'r', image });

describe('admission in bytes (MAX_QUEUE_BYTES) and Redis OOM', () => {
  let redis: EmbeddedRedis;
  let client: ReturnType<typeof connectRedis>;
  before(async () => {
    redis = await startEmbeddedRedis();
    client = connectRedis(redis.url, 'test', log);
    await whenReady(client);
  });
  after(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('refuses an envelope that would take the request stream past MAX_QUEUE_BYTES, and admits again once it drains', async () => {
    const keys = keysFor('bytes-test');
    await client.zadd(keys.registry, Date.now() + 60_000, 'a-live-host');
    const envelope = entryOf(Buffer.alloc(300 * 1024, 7));
    const bounds = { MAX_QUEUE: 1000, MAX_QUEUE_BYTES: MiB, HOST_RESTART_GRACE_MS: 0 };
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push(await admitRequest(client, keys, bounds, envelope));
    const queued = outcomes.filter((o) => o === 'queued').length;
    assert.ok(queued >= 2 && queued <= 3, `admitted ${queued} of 300 KiB into 1 MiB: ${outcomes.join(',')}`);
    assert.deepEqual(outcomes.slice(queued), Array(6 - queued).fill('full'));
    const bytes = Number(await client.call('MEMORY', 'USAGE', keys.requests, 'SAMPLES', '0'));
    assert.ok(bytes <= MiB, `stream holds ${bytes} bytes`);
    // A model host acknowledges and deletes what it answered: the bound follows the stream, no counter to drift.
    const ids = (await client.xrange(keys.requests, '-', '+')).map(([id]) => id);
    await client.xdel(keys.requests, ...ids);
    assert.equal(await admitRequest(client, keys, bounds, envelope), 'queued');
  });

  it('answers "full" (not an error) when Redis refuses the write for memory', async () => {
    const keys = keysFor('oom-test');
    await client.zadd(keys.registry, Date.now() + 60_000, 'a-live-host');
    await client.config('SET', 'maxmemory', '1');
    try {
      assert.equal(
        await admitRequest(
          client,
          keys,
          { MAX_QUEUE: 1000, MAX_QUEUE_BYTES: 64 * MiB, HOST_RESTART_GRACE_MS: 0 },
          entryOf(Buffer.alloc(10)),
        ),
        'full',
      );
    } finally {
      await client.config('SET', 'maxmemory', String(privateRedisMaxmemory(256 * MiB)));
    }
  });
});

describe('a Redis out of memory, through HTTP', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(() => svc?.close());

  it('answers 503 OVERLOADED with Retry-After, not NOT_READY, and 200 again once memory is back', async () => {
    const image = readFileSync(new URL('chelsea.png', EXAMPLES));
    const post = () =>
      fetch(`${svc.url}/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: image });
    assert.equal((await post()).status, 200);
    const admin = new Redis(svc.redis.url);
    try {
      await admin.config('SET', 'maxmemory', '1');
      const refused = await post();
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'OVERLOADED');
    } finally {
      await admin.config('SET', 'maxmemory', String(privateRedisMaxmemory(256 * MiB)));
      admin.disconnect();
    }
    assert.equal((await post()).status, 200);
  });
});
