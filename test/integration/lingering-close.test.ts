/**
 * An early answer (413 before the body is read) reaches a client that is still sending, on both HTTP servers:
 * Node's fetch and undici (in their own process, so the server does not pace them) and curl get the 413 JSON, not
 * EPIPE or a reset (issue 20, the CI gate). The lingering that makes it so is bounded in bytes, in time, and ends
 * when the client has been idle.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exchange } from '../helpers/raw-http.ts';
import { uwsShouldLoad } from '../helpers/uws-expected.ts';
import { startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const run = promisify(execFile);
const BODY_LIMIT = 1024 * 1024;
const LINGER_MAX_BYTES = 4 * 1024 * 1024;
const LINGER_TIMEOUT_MS = 3000;
const CLIENT = new URL('../helpers/post-client.mjs', import.meta.url).pathname;

function assertTooLarge(results: Array<{ status?: number; body?: string; error?: string }>, who: string): void {
  for (const r of results) {
    assert.equal(r.status, 413, `${who}: ${JSON.stringify(r).slice(0, 200)}`);
    assert.equal(JSON.parse(r.body!).error.code, 'BODY_TOO_LARGE', who);
  }
}

/** Declares a huge body and sends it as fast as the server takes it; resolves once the server cuts the connection. */
function flood(port: number, declared: number): Promise<{ written: number; cut: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const chunk = Buffer.alloc(64 * 1024, 1);
    let written = 0;
    let done = false;
    const finish = (cut: boolean) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve({ written, cut });
    };
    const pump = () => {
      while (!done && written < declared) {
        written += chunk.length;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
      if (written >= declared) finish(false);
    };
    sock.on('data', () => {});
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
    sock.once('connect', () => {
      sock.write(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${declared}\r\n\r\n`);
      pump();
    });
  });
}

for (const kind of ['uws', 'node'] as const) {
  describe(`an early answer on ${kind === 'uws' ? 'uWebSockets.js' : 'node:http'} reaches a client still sending`, {
    skip: kind === 'uws' && !uwsShouldLoad() ? 'no uWS binary loads on this Node' : false,
  }, () => {
    let svc: TestService;
    let port: number;
    const file = join(tmpdir(), `linger-${process.pid}-${randomBytes(4).toString('hex')}.bin`);
    before(async () => {
      svc = await startTestService({
        HTTP_SERVER: kind,
        BODY_LIMIT_BYTES: String(BODY_LIMIT),
        BODY_TIMEOUT_MS: '60000',
        LINGER_MAX_BYTES: String(LINGER_MAX_BYTES),
        LINGER_TIMEOUT_MS: String(LINGER_TIMEOUT_MS),
        LINGER_IDLE_MS: '1000',
      });
      port = svc.frontend.port;
      writeFileSync(file, Buffer.alloc(2 * BODY_LIMIT, 1));
    });
    after(async () => {
      rmSync(file, { force: true });
      await svc?.close();
    });

    for (const client of ['fetch', 'undici'] as const) {
      it(`${client} (in its own process) gets the 413 JSON for a body over the limit, every time`, async () => {
        const { stdout } = await run(process.execPath, [
          CLIENT,
          client,
          `${svc.url}/predict`,
          `${2 * BODY_LIMIT}`,
          '5',
        ]);
        assertTooLarge(JSON.parse(stdout), client);
      });
    }

    it('curl gets the 413 JSON, with Expect: 100-continue (its default here) and without', async () => {
      for (const expect of [[], ['-H', 'Expect:']]) {
        const args = ['-sS', '-w', '\n%{http_code}', '-F', `image=@${file};type=image/png`];
        const { stdout } = await run('curl', [...args, ...expect, `${svc.url}/predict`]);
        const [body, status] = stdout.split('\n');
        assertTooLarge([{ status: Number(status), body }], `curl ${expect.join(' ')}`);
      }
    });

    it('cuts a client that keeps sending past LINGER_MAX_BYTES', async () => {
      const { written, cut } = await flood(port, 1024 * 1024 * 1024);
      assert.ok(cut, 'the server never cut the connection');
      // What the server read is bounded; the rest is the two kernels' socket buffers.
      assert.ok(written < 64 * 1024 * 1024, `the client wrote ${written} bytes before the cut`);
      assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    });

    const midBody = `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${2 * BODY_LIMIT}\r\n\r\n`;

    it('answers a client that stops sending mid-body, and closes once it has been idle LINGER_IDLE_MS', async () => {
      const e = await exchange(port, [midBody, Buffer.alloc(1000, 1)], { timeoutMs: LINGER_TIMEOUT_MS + 10_000 });
      assert.ok(e.closed, 'connection left open');
      assert.deepEqual(
        e.responses.map((r) => r.status),
        [413],
      );
    });

    it('answers a client that drips its body, and closes after LINGER_TIMEOUT_MS', async () => {
      // A byte every 200 ms: never idle for LINGER_IDLE_MS, never past LINGER_MAX_BYTES.
      const drip: Array<Buffer | string | number> = [midBody];
      for (let i = 0; i < (LINGER_TIMEOUT_MS + 20_000) / 200; i++) drip.push(Buffer.alloc(1, 1), 200);
      const e = await exchange(port, drip, { timeoutMs: LINGER_TIMEOUT_MS + 10_000 });
      assert.ok(e.closed, 'connection left open');
      assert.deepEqual(
        e.responses.map((r) => r.status),
        [413],
      );
    });
  });
}
