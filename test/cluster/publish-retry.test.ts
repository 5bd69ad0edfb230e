/**
 * A result whose acknowledgement fails (here: the host's Redis user may not XACK, as a primary that is failing over
 * refuses it) is answered and acknowledged later in the background, once Redis accepts it, writing the reply once:
 * other hosts never re-claim a live host's entries, so without the retry the entry would stay in its shard.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { connectRedis, whenReady } from '../../src/redis/connect.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { CONSUMER_GROUP, REQUEST_FIELDS, keysFor } from '../../src/wire/keys.ts';
import type { RequestEnvelope } from '../../src/wire/envelope.ts';
import { ResultPublisher } from '../../src/host/publisher.ts';
import { waitUntil } from '../helpers/processes.ts';

let redis: EmbeddedRedis;
let admin: Redis;
let host: Redis | undefined;

before(async () => {
  redis = await startEmbeddedRedis();
  admin = new Redis(redis.url);
});
after(async () => {
  host?.disconnect();
  admin?.disconnect();
  await redis?.stop();
});

it('acknowledges in the background what failed to be acknowledged, writing the reply once', async () => {
  const keys = keysFor('retry', 2);
  const shard = keys.shards[1]!;
  const replyTo = keys.replies('fe');
  await admin.xgroup('CREATE', shard.requests, CONSUMER_GROUP, '0', 'MKSTREAM');
  const entryId = (await admin.xadd(shard.requests, '*', REQUEST_FIELDS.meta, 'x'))!;
  await admin.xreadgroup('GROUP', CONSUMER_GROUP, 'host-1', 'COUNT', 1, 'STREAMS', shard.requests, '>');
  await admin.call('ACL', 'SETUSER', 'host', 'on', '>pw', '~*', '+@all', '-xack');
  host = connectRedis(`redis://host:pw@127.0.0.1:${redis.port}`, 'host', createLogger('test', 'silent'));
  await whenReady(host);
  const publisher = new ResultPublisher(host, keys, 60);
  const env: RequestEnvelope = {
    id: randomUUID(),
    topk: 1,
    deadline: Date.now() + 30_000,
    replyTo,
    image: new Uint8Array(1),
  };
  const done = [{ job: { entryId, env, shard: 1 }, result: { id: env.id, ok: true as const, predictions: [] } }];

  await assert.rejects(publisher.publish(done), /NOPERM|EXECABORT/);
  assert.equal(publisher.retrying, 1);
  // On one server the reply and the acknowledgement are one transaction, which Redis refused whole; the retry
  // writes the reply (the request is still waited for) and keeps trying the acknowledgement.
  await waitUntil(async () => (await admin.xlen(replyTo)) === 1, 10_000, 'the reply to be written');
  await admin.call('ACL', 'SETUSER', 'host', '+xack');
  await waitUntil(
    async () => (await admin.xlen(shard.requests)) === 0,
    10_000,
    'the entry to be acknowledged and deleted',
  );
  assert.equal(((await admin.xpending(shard.requests, CONSUMER_GROUP)) as [number])[0], 0);
  assert.equal(await admin.xlen(replyTo), 1, 'the reply was not written twice');
  assert.equal(publisher.retrying, 0);
});
