/**
 * Clients that go away: an aborted request frees its pending entry at once (not at its deadline), a body
 * abandoned mid-upload frees its reader, and the late result of an abandoned request is discarded without error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { startModelHost, type ModelHost } from '../../src/host/model-host.ts';
import { keysFor, modelKeys } from '../../src/wire/keys.ts';
import { captureLogger, sleep, waitUntil } from '../helpers/processes.ts';
import { closeLoadAgent, postRaw, smallPng } from '../helpers/load.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';

describe('client gone', () => {
  let redis: EmbeddedRedis;
  let frontend: Frontend;
  let host: ModelHost | undefined;
  let client: Redis;
  let url: string;
  const config = testConfig({
    PORT: '0',
    KEY_PREFIX: 'gone',
    REQUEST_TIMEOUT_MS: '30000',
    BODY_TIMEOUT_MS: '20000',
    PREPROCESS_THREADS: '1',
    LOG_LEVEL: 'debug',
  });
  const keys = keysFor(config.KEY_PREFIX);
  const fe = captureLogger();

  before(async () => {
    redis = await startEmbeddedRedis();
    client = new Redis(redis.url);
    frontend = await startFrontend(config, redis.url, fe.log);
    url = `http://127.0.0.1:${frontend.port}`;
  });
  after(async () => {
    client?.disconnect();
    await frontend?.close();
    await host?.close();
    await redis?.stop();
    await closeLoadAgent();
  });

  it('an aborted request frees its pending entry at once; its late result is discarded', async () => {
    const image = await smallPng(64);
    await client.zadd(modelKeys(keys, 'default').shards[0]!.liveHosts, Date.now() + 60_000, 'ghost');
    const controllers = Array.from({ length: 3 }, () => new AbortController());
    const requests = controllers.map((c) =>
      fetch(`${url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: image as unknown as BodyInit,
        signal: c.signal,
      }).catch((e: Error) => e),
    );
    await waitUntil(() => frontend.pendingCount() === 3, 5000, 'three pending requests');
    const abortedAt = Date.now();
    for (const c of controllers) c.abort();
    for (const r of await Promise.all(requests)) assert.ok(r instanceof Error);
    await waitUntil(() => frontend.pendingCount() === 0, 5000, 'the pending entries to be freed');
    assert.ok(Date.now() - abortedAt < 3000, 'freed well before the 30 s deadline');

    // A body abandoned halfway: the reader is released and nothing is queued.
    const before = await client.xlen(modelKeys(keys, 'default').requests);
    const sock = connect(frontend.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n`);
    const abortedLines = () => fe.lines.filter((l) => l.route === '/predict' && l.status === 499).length;
    const abortedBefore = abortedLines();
    sock.write(image.subarray(0, 50));
    // Stays a pause: nothing outside the front end shows that it has begun this body (it answers nothing yet).
    await sleep(200);
    sock.destroy();
    await waitUntil(() => abortedLines() > abortedBefore, 5000, "the abandoned body's 499 access line");
    assert.equal(frontend.pendingCount(), 0);
    assert.equal(await client.xlen(modelKeys(keys, 'default').requests), before);

    // The host answers the three abandoned requests; the front end drops the results quietly.
    await client.zrem(modelKeys(keys, 'default').shards[0]!.liveHosts, 'ghost');
    host = await startModelHost(config, redis.url, captureLogger('warn').log);
    await waitUntil(() => frontend.discardedResults() === 3, 20_000, 'the late results to be discarded');
    assert.ok(fe.lines.some((l) => l.msg === 'discarded a result nobody waits for'));
    assert.deepEqual(
      fe.lines.filter((l) => l.level >= 50),
      [],
      'no errors logged',
    );

    const ok = await postRaw(url, image);
    assert.equal(ok.status, 200);
    assert.equal(frontend.pendingCount(), 0);
  });
});
