/**
 * Structured logs: every request, on every route and exit path, writes exactly one access line (a JSON line
 * with `status`), carrying the request id that the X-Request-Id header returns (or the valid one nginx sent).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startModelHost, type ModelHost } from '../../src/host/model-host.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { EXAMPLES, postImage, testConfig } from '../../scripts/lib/in-process-service.ts';
import { waitUntil } from '../helpers/processes.ts';

type Line = Record<string, unknown> & { level: number; msg: string };

describe('access logs', () => {
  const lines: Line[] = [];
  let redis: EmbeddedRedis;
  let host: ModelHost;
  let frontend: Frontend;
  let url: string;
  let chelsea: Buffer;

  before(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const text of String(chunk).split('\n')) if (text) lines.push(JSON.parse(text));
        done();
      },
    });
    const config = testConfig({
      PORT: '0',
      KEY_PREFIX: `test-${randomBytes(4).toString('hex')}`,
      LOG_LEVEL: 'debug',
      PREPROCESS_THREADS: '2',
      BODY_TIMEOUT_MS: '2000',
    });
    const log = createLogger('test', config.LOG_LEVEL, sink);
    redis = await startEmbeddedRedis();
    host = await startModelHost(config, redis.url, log);
    frontend = await startFrontend(config, redis.url, log);
    url = `http://127.0.0.1:${frontend.port}`;
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(async () => {
    await frontend?.close();
    await host?.close();
    await redis?.stop();
  });

  const accessLines = (reqId: string) => lines.filter((l) => l.reqId === reqId && 'status' in l);

  /** Waits a moment: the line is written right after the response. */
  async function oneLine(reqId: string, status: number): Promise<Line> {
    for (let i = 0; i < 250 && accessLines(reqId).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const found = accessLines(reqId);
    assert.equal(found.length, 1, `one access line for ${reqId}, got ${JSON.stringify(found)}`);
    const line = found[0]!;
    assert.equal(line.status, status);
    assert.equal(typeof line.ms, 'number');
    assert.equal(typeof line.time, 'string');
    assert.equal(line.role, 'test');
    return line;
  }

  it('one line per request on every route, with the X-Request-Id of the response', async () => {
    const multi = new FormData();
    multi.append('image', new Blob([new Uint8Array(chelsea)]), 'a.png');
    multi.append('image', new Blob([Buffer.from('x')]), 'b.txt');
    const cases: Array<[string, () => Promise<Response>, number, string]> = [
      ['predict ok', () => postImage(url, chelsea), 200, '/predict'],
      ['predict multi', () => fetch(`${url}/predict`, { method: 'POST', body: multi }), 200, '/predict'],
      ['predict 415', () => postImage(url, Buffer.from('hello')), 415, '/predict'],
      [
        'predict 400 (image decode fails in the host)',
        () => postImage(url, chelsea.subarray(0, 2000)),
        400,
        '/predict',
      ],
      ['predict bad topk', () => postImage(url, chelsea, { query: '?topk=0' }), 400, '/predict'],
      ['predict 405', () => fetch(`${url}/predict`), 405, '/predict'],
      ['demo page', () => fetch(`${url}/`), 200, '/'],
      ['healthz', () => fetch(`${url}/healthz`), 200, '/healthz'],
      ['readyz', () => fetch(`${url}/readyz`), 200, '/readyz'],
      ['models', () => fetch(`${url}/v1/models`), 200, '/v1/models'],
      ['metrics', () => fetch(`${url}/metrics`), 200, '/metrics'],
      ['openapi', () => fetch(`${url}/openapi.json`), 200, '/openapi.json'],
      ['404', () => fetch(`${url}/nope`), 404, 'other'],
    ];
    for (const [name, send, status, route] of cases) {
      const res = await send();
      await res.arrayBuffer();
      assert.equal(res.status, status, name);
      const reqId = res.headers.get('x-request-id');
      assert.ok(reqId, name);
      const line = await oneLine(reqId, status);
      assert.equal(line.route, route, name);
      assert.ok(line.method, name);
      if (status >= 400) assert.equal(line.msg, 'request failed', name);
      if (name === 'predict ok') {
        assert.equal(line.level, 30);
        assert.equal(line.batchSize, 1);
        assert.equal(typeof line.inferenceMs, 'number');
        assert.equal(typeof line.preprocessMs, 'number');
      }
      if (name === 'predict multi') assert.deepEqual([line.images, line.failed], [2, 1]);
      if (name === 'healthz') assert.equal(line.level, 20, 'probes log at debug');
    }
  });

  it('reuses a valid incoming X-Request-Id (from nginx) and replaces an invalid one', async () => {
    const valid = `nginx-${randomBytes(6).toString('hex')}`;
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(chelsea)]), 'a.png');
    const res = await fetch(`${url}/predict`, { method: 'POST', body: form, headers: { 'x-request-id': valid } });
    assert.equal(res.headers.get('x-request-id'), valid);
    await oneLine(valid, 200);
    const health = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'bad id with spaces' } });
    const replaced = health.headers.get('x-request-id')!;
    assert.notEqual(replaced, 'bad id with spaces');
    await oneLine(replaced, 200);
  });

  it('a client that leaves mid-body gets one 499 line', async () => {
    const id = `abort-${randomBytes(6).toString('hex')}`;
    const socket = connect(frontend.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `POST /predict HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n`,
    );
    socket.write(chelsea.subarray(0, 1000));
    // Stays a pause: nothing outside the front end shows that it has begun this body (it answers nothing yet).
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    const line = await oneLine(id, 499);
    assert.equal(line.route, '/predict');
    // Nothing more is logged for it once its body timer has fired: a later stalled body's 408 shows that moment.
    const stalledId = `stalled-${randomBytes(6).toString('hex')}`;
    const stalled = connect(frontend.port, '127.0.0.1');
    await new Promise((r) => stalled.once('connect', r));
    stalled.write(
      `POST /predict HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${stalledId}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n`,
    );
    stalled.write(chelsea.subarray(0, 1000));
    try {
      await waitUntil(() => accessLines(stalledId).length > 0, 10_000, 'the stalled body to time out');
      assert.equal(accessLines(stalledId)[0]!.status, 408);
    } finally {
      stalled.destroy();
    }
    assert.equal(accessLines(id).length, 1);
  });
});
