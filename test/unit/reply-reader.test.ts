/** ReplyReader (src/frontend/reply-reader.ts) on a real Redis: delivery, unknown and malformed entries, a lost connection. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PendingRequests, type Outcome } from '../../src/frontend/pending.ts';
import { ReplyReader } from '../../src/frontend/reply-reader.ts';
import { connectRedis, whenReady, type RedisClient } from '../../src/redis/connect.ts';
import { packResult, type Result } from '../../src/wire/envelope.ts';
import { RESULT_FIELD } from '../../src/wire/keys.ts';
import { startFrontendParts, type FrontendParts } from '../helpers/frontend-parts.ts';
import { captureLogger } from '../helpers/processes.ts';

describe('ReplyReader', () => {
  let fe: FrontendParts;
  let blocking: RedisClient;
  let reader: ReplyReader;
  const pending = new PendingRequests();
  const { log, lines } = captureLogger();
  const stream = 'reply-reader-test:replies';
  const write = (result: Result) => fe.redis.xadd(stream, '*', RESULT_FIELD, packResult(result));
  const wait = (id: string) =>
    new Promise<Outcome>((resolve) => pending.add(id, Date.now() + 10_000, (outcome) => resolve(outcome)));

  before(async () => {
    fe = await startFrontendParts();
    blocking = connectRedis(fe.url, 'reply-reader-test', pino({ level: 'silent' }));
    await whenReady(blocking);
  });
  after(async () => {
    await reader?.stop();
    await fe?.close();
  });

  it('delivers results written after start(), never older ones', async () => {
    await write({ id: 'old', ok: true, predictions: [] });
    reader = new ReplyReader(blocking, stream, pending, log);
    await reader.start();
    const old = wait('old');
    const fresh = wait('fresh');
    await write({ id: 'fresh', ok: false, code: 'OVERLOADED', message: 'busy' });
    assert.deepEqual(await fresh, {
      kind: 'result',
      result: { id: 'fresh', ok: false, code: 'OVERLOADED', message: 'busy' },
    });
    assert.equal(pending.size, 1, 'the result written before start() was not delivered');
    pending.settle('old', { kind: 'gone' });
    await old;
  });

  it('counts results nobody waits for, and skips malformed entries without stopping', async () => {
    const discarded = reader.discarded;
    await write({ id: 'nobody', ok: true, predictions: [] });
    await fe.redis.xadd(stream, '*', RESULT_FIELD, Buffer.from([0xc1, 0xff]));
    await fe.redis.xadd(stream, '*', 'other-field', 'x');
    const next = wait('after-garbage');
    await write({ id: 'after-garbage', ok: true, predictions: [{ label: 'a', probability: 1 }] });
    assert.equal((await next).kind, 'result');
    assert.equal(reader.discarded, discarded + 1);
    assert.equal(lines.filter((l) => l.msg === 'malformed reply entry').length, 2);
  });

  it('resumes after its connection is cut, losing no reply written meanwhile', async () => {
    // The reader's connection is blocked in XREAD; another connection finds it by name and cuts it.
    const list = (await fe.redis.client('LIST')) as string;
    const id = /id=(\d+) .* name=reply-reader-test /.exec(list)?.[1];
    assert.ok(id, 'the reader connection is listed');
    const resumed = wait('during-cut');
    await fe.redis.client('KILL', 'ID', id);
    await write({ id: 'during-cut', ok: true, predictions: [] });
    assert.equal((await resumed).kind, 'result');
    // ioredis reconnected and re-sent the read from the last id the reader had seen.
    const now = /id=(\d+) .* name=reply-reader-test /.exec((await fe.redis.client('LIST')) as string)?.[1];
    assert.ok(now && now !== id, `a new connection (${id} -> ${now})`);
  });

  it('stop() ends the loop while it waits in a blocking read', async () => {
    const started = Date.now();
    await reader.stop();
    assert.ok(Date.now() - started < 2000, `stopped in ${Date.now() - started} ms`);
  });
});
