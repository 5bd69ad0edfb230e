/**
 * nginx's own error answers, without the service: the rendered configuration in front of a fake upstream that
 * resets or never answers. 413, 429, 502 and 504 must come back in the service's JSON error shape.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/system/ports.ts';
import { startTestNginx, type TestNginx } from '../helpers/nginx.ts';

describe('nginx errors in the service JSON shape', () => {
  let prefix: string;
  let upstream: Server;
  let url: string;
  let resets = 0;
  let nginx: TestNginx | undefined;

  before(async () => {
    prefix = await mkdtemp(join(tmpdir(), 'cls-nginx-'));
    upstream = createServer((req, res) => {
      if (req.url?.includes('hang')) return; // never answers: nginx's read timeout
      resets++;
      req.socket.destroy(); // no answer at all: nginx's 502 (after retrying)
      void res;
    });
    const upstreamPort = await freePort();
    await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve));
    nginx = await startTestNginx(prefix, {
      PORT: String(upstreamPort),
      FRONTENDS: '2',
      BODY_LIMIT_BYTES: '2048',
      REQUEST_TIMEOUT_MS: '100',
      NGINX_RATE_LIMIT: '2',
      NGINX_RATE_BURST: '4',
    });
    url = nginx.url;
  });

  after(async () => {
    await nginx?.stop();
    upstream.closeAllConnections();
    upstream.close();
    await rm(prefix, { recursive: true, force: true });
  });

  async function expectError(res: Response, status: number, code: string): Promise<void> {
    const text = await res.text();
    assert.equal(res.status, status, text);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = JSON.parse(text);
    assert.equal(body.success, false);
    assert.equal(body.error.code, code);
    assert.equal(typeof body.error.message, 'string');
    assert.ok(res.headers.get('x-request-id'));
  }

  it('502 BAD_GATEWAY when the front end drops the connection, after retrying the POST', async () => {
    const res = await fetch(`${url}/predict`, { method: 'POST', body: 'x', headers: { 'x-request-id': 'e2e-502' } });
    await expectError(res, 502, 'BAD_GATEWAY');
    assert.equal(res.headers.get('x-request-id'), 'e2e-502');
    assert.equal(resets, 3, 'tried once per upstream entry (non_idempotent retries)');
  });

  it('504 DEADLINE_EXCEEDED when the front end never answers (proxy_read_timeout > REQUEST_TIMEOUT_MS)', async () => {
    const started = Date.now();
    await expectError(await fetch(`${url}/predict?hang`, { method: 'POST', body: 'x' }), 504, 'DEADLINE_EXCEEDED');
    const ms = Date.now() - started;
    assert.ok(ms >= 2000 && ms < 4000, `a single read timeout, not retried (${ms} ms)`);
  });

  it('413 BODY_TOO_LARGE above BODY_LIMIT_BYTES, without reaching the front end', async () => {
    const before = resets;
    await expectError(
      await fetch(`${url}/predict`, { method: 'POST', body: new Uint8Array(4096) }),
      413,
      'BODY_TOO_LARGE',
    );
    assert.equal(resets, before);
  });

  it('errors on the Open Inference Protocol\'s paths come in its shape, {"error": "CODE: ..."}', async () => {
    for (const [path, status, code] of [
      ['/v2/models/m/infer', 413, 'BODY_TOO_LARGE'],
      ['/v2/models/m/infer?hang', 504, 'DEADLINE_EXCEEDED'],
    ] as const) {
      const res = await fetch(`${url}${path}`, { method: 'POST', body: status === 413 ? new Uint8Array(4096) : 'x' });
      assert.equal(res.status, status, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.ok(res.headers.get('x-request-id'));
      const body = await res.json();
      assert.deepEqual(Object.keys(body), ['error']);
      assert.match(body.error, new RegExp(`^${code}: `));
    }
  });

  it('a path nginx cannot decode gets its 400 in the JSON shapes, not an HTML 500 (issue 20)', async () => {
    // nginx refuses these while reading the request line; a named error location cannot be reached from there.
    await expectError(await fetch(`${url}/predict%ZZ`), 400, 'BAD_REQUEST');
    for (const path of ['/v2/models/%ZZ/ready', '/v2/models/%C0%80%/ready', '/v2/models/%']) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 400, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, path);
      assert.ok(res.headers.get('x-request-id'), path);
      assert.match((await res.json()).error, /^BAD_REQUEST: /, path);
    }
  });

  // (client_max_body_size is checked before limit_req, so these bodies are small: the upstream resets them, 502.)
  it('429 RATE_LIMITED with Retry-After beyond rate + burst', async () => {
    await sleep(2500); // let the bucket refill
    const results = await Promise.all(
      Array.from({ length: 12 }, () => fetch(`${url}/predict`, { method: 'POST', body: 'x' })),
    );
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length >= 5, `statuses: ${results.map((r) => r.status).join(',')}`);
    assert.equal(limited[0]!.headers.get('retry-after'), '1');
    await expectError(limited[0]!, 429, 'RATE_LIMITED');
    await Promise.all(results.map((r) => r.arrayBuffer().catch(() => {})));
  });
});
