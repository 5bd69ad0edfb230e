/**
 * Re-claiming takes only a dead host's entries (issue 12, defect 3). Against a real redis-server: the script
 * itself (a live host's idle entries stay with it, a dead one's are taken), then a real model host holding one
 * slow request longer than CLAIM_IDLE_MS: it is answered once and classify_requests_reclaimed_total stays 0.
 * (A SIGKILLed host's entries are still re-claimed: test/faults/host-kill.test.ts.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { connectRedis, whenReady, type RedisClient } from '../../src/redis/connect.ts';
import { CONSUMER_GROUP, keysFor } from '../../src/wire/keys.ts';
import { reclaimFromDeadHosts } from '../../src/host/reclaim.ts';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';
import { manyScanJpeg } from '../helpers/slow-images.ts';
import { waitUntil } from '../helpers/processes.ts';

describe('re-claim takes only entries of dead hosts', () => {
  let redis: EmbeddedRedis;
  let conn: RedisClient;
  before(async () => {
    redis = await startEmbeddedRedis();
    conn = connectRedis(redis.url, 'reclaim-test', pino({ level: 'silent' }));
    await whenReady(conn);
  });
  after(async () => {
    conn?.disconnect();
    await redis?.stop();
  });

  it('XCLAIMs the idle entries of a host without a fresh heartbeat, never those of a live host', async () => {
    const keys = keysFor('reclaim-script').shards[0]!;
    await conn.xgroup('CREATE', keys.requests, CONSUMER_GROUP, '0', 'MKSTREAM');
    const ids: Record<string, string> = {};
    for (const host of ['dead-host', 'live-host', 'me']) {
      ids[host] = (await conn.xadd(keys.requests, '*', 'm', host))!;
      await conn.xreadgroup('GROUP', CONSUMER_GROUP, host, 'COUNT', 1, 'STREAMS', keys.requests, '>');
    }
    const now = Date.now();
    await conn.zadd(keys.liveHosts, now + 60_000, 'live-host', now + 60_000, 'me', now - 1, 'dead-host');
    // XPENDING's IDLE filter: wait until all three deliveries are older than the minIdleMs used below.
    const idle = async () =>
      ((await conn.xpending(keys.requests, CONSUMER_GROUP, 'IDLE', 50, '-', '+', 10)) as unknown[]).length;
    await waitUntil(async () => (await idle()) === 3, 5000, 'the deliveries to be idle for 50 ms');
    const got = await reclaimFromDeadHosts(conn, keys, { consumer: 'me', minIdleMs: 50, count: 10 });
    assert.deepEqual(
      got.entries.map(([id]) => id.toString()),
      [ids['dead-host']],
    );
    assert.deepEqual(got.from, ['dead-host']);
    const owners = ((await conn.xpending(keys.requests, CONSUMER_GROUP, '-', '+', 10)) as Array<[string, string]>).map(
      ([id, owner]) => [id, owner],
    );
    assert.deepEqual(owners, [
      [ids['dead-host'], 'me'],
      [ids['live-host'], 'live-host'],
      [ids.me, 'me'],
    ]);
    // A host missing from the registry altogether is dead too; nothing idle enough is taken.
    await conn.zrem(keys.liveHosts, 'live-host');
    assert.deepEqual(
      (await reclaimFromDeadHosts(conn, keys, { consumer: 'me', minIdleMs: 60_000, count: 10 })).entries,
      [],
    );
    const late = await reclaimFromDeadHosts(conn, keys, { consumer: 'me', minIdleMs: 50, count: 10 });
    assert.deepEqual(
      late.entries.map(([id]) => id.toString()),
      [ids['live-host']],
    );
  });
});

describe('a live host holding a slow request past CLAIM_IDLE_MS', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({
      CLAIM_IDLE_MS: '1000',
      HEARTBEAT_MS: '200',
      METRICS_PUSH_MS: '200',
      DECODE_TIMEOUT_MS: '4000',
      REQUEST_TIMEOUT_MS: '15000',
      MAX_JPEG_SCANS: '10000',
    });
  });
  after(() => svc?.close());

  /** A metric's series, summed, as the front end's /metrics shows the hosts' last pushed snapshot (none: 0). */
  const metric = async (name: string) => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith(name));
    return { present: lines.length > 0, sum: lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0) };
  };
  const reclaimed = async () => {
    const { present, sum } = await metric('classify_requests_reclaimed_total');
    assert.ok(present, 'the host reports classify_requests_reclaimed_total');
    return sum;
  };
  const batches = async () => (await metric('classify_batch_size_count')).sum;

  it('keeps it (decoded once), and classify_requests_reclaimed_total does not rise', async () => {
    // The front end shows the host's metrics from its first push on (METRICS_PUSH_MS after start).
    await waitUntil(
      async () => (await metric('classify_requests_reclaimed_total')).present,
      10_000,
      "the host's first metrics push",
    );
    const before = await reclaimed();
    const batchesBefore = await batches();
    const started = Date.now();
    // Thousands of scans over 6000×6000 pixels (the attack): seconds of decoding whatever the decoder, so DECODE_TIMEOUT_MS ends it.
    const slow = await postImage(svc.url, manyScanJpeg({ width: 6000, height: 6000, scans: 4000 }));
    const heldMs = Date.now() - started;
    const body = (await slow.json()) as { error?: { code: string } };
    assert.equal(slow.status, 422, JSON.stringify(body));
    assert.equal(body.error?.code, 'IMAGE_TOO_COMPLEX');
    assert.ok(heldMs > 2 * svc.config.CLAIM_IDLE_MS, `held ${heldMs} ms, longer than CLAIM_IDLE_MS`);
    const photo = await postImage(svc.url, await readFile(new URL('chelsea.png', EXAMPLES)));
    assert.equal(photo.status, 200);
    // A snapshot that counts the photo's batch was taken after the slow image's whole hold.
    await waitUntil(async () => (await batches()) > batchesBefore, 10_000, "a metrics push counting the photo's batch");
    assert.equal(await reclaimed(), before, 'the live host re-claimed nothing');
    assert.equal(svc.frontend.discardedResults(), 0, 'no second answer: the image was not decoded twice');
  });
});
