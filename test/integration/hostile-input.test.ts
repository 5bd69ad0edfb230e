/**
 * Hostile and malformed input through the HTTP API (the corpus of test/helpers/corpus.ts, plus raw-socket cases):
 * every case is answered with its status and the JSON error shape (or 200 for valid images), no response leaks
 * internal detail, no process goes down, and the service still answers a good request afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { buildCorpus, type Corpus, type CorpusCase } from '../helpers/corpus.ts';
import { startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const BODY_LIMIT = 1024 * 1024;
const BODY_TIMEOUT_MS = 1000;
/** uWS answers a client still sending only after lingering (linger.ts): the dripping client below waits it out. */
const LINGER_TIMEOUT_MS = 1000;
const MAX_INPUT_PIXELS = 10_000_000;
/** Internal detail that must never reach a client: stacks, paths, library and decoder messages, addresses. */
const LEAK =
  /\bat .*\.(ts|js|mjs):\d+|Error:|\/work\/|\/home\/|node_modules|vips|sharp|libpng|libjpeg|gifload|webp:|heif|premature|corrupt header|ECONN|redis:|127\.0\.0\.1/i;

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  ms: number;
}

async function send(url: string, c: CorpusCase): Promise<Answer> {
  const started = Date.now();
  let init: RequestInit;
  if (c.body.kind === 'multipart') {
    const form = new FormData();
    for (const p of c.body.parts)
      form.append(
        p.field,
        new Blob([p.bytes as Uint8Array<ArrayBuffer>], { type: p.type ?? 'application/octet-stream' }),
        p.filename ?? 'upload',
      );
    // Encoded before the request starts: Node 24's fetch encodes 2000 fields slower than BODY_TIMEOUT_MS on a busy machine.
    const encoded = new Request('http://encode.invalid/', { method: 'POST', body: form });
    const body = Buffer.from(await encoded.arrayBuffer());
    init = { method: 'POST', body, headers: { 'content-type': encoded.headers.get('content-type')! } };
  } else {
    const type = c.body.kind === 'raw' ? (c.body.type ?? 'application/octet-stream') : c.body.type;
    init = { method: 'POST', body: c.body.bytes as unknown as BodyInit, headers: type ? { 'content-type': type } : {} };
  }
  const res = await fetch(`${url}/predict${c.query ?? ''}`, init);
  return {
    status: res.status,
    headers: Object.fromEntries(res.headers),
    text: await res.text(),
    ms: Date.now() - started,
  };
}

/** One HTTP/1.1 exchange on a raw socket: writes `parts` (with pauses between them), reads the response. */
function rawHttp(
  port: number,
  parts: Array<string | Buffer | number>,
  timeoutMs = 10_000,
): Promise<Answer & { closed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      const text = data.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      if (head < 0) {
        if (closed) {
          done = true;
          clearTimeout(timer);
          resolve({ status: 0, headers: {}, text, ms: Date.now() - started, closed });
        }
        return;
      }
      const lines = text.slice(0, head).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const body = text.slice(head + 4);
      const length = Number(headers['content-length'] ?? NaN);
      if (!closed && !(body.length >= length)) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers, text: body, ms: Date.now() - started, closed });
    };
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      finish(false);
    });
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    sock.once('connect', async () => {
      for (const p of parts) {
        if (done || sock.destroyed) return;
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else sock.write(p);
      }
    });
  });
}

function assertErrorShape(name: string, a: Answer, expect: Array<{ status: number; code?: string }>): void {
  assert.doesNotMatch(a.text, LEAK, `${name}: response leaks internals: ${a.text}`);
  assert.ok(a.status < 500, `${name}: ${a.status} ${a.text}`);
  assert.match(a.headers['content-type'] ?? '', /application\/json/, `${name}: not JSON`);
  const body = JSON.parse(a.text) as {
    success: boolean;
    error?: { code: string; message: string };
    predictions?: unknown[];
    results?: unknown[];
  };
  if (a.status === 200) {
    assert.equal(body.success, true, name);
  } else {
    assert.equal(body.success, false, name);
    assert.equal(typeof body.error?.code, 'string', name);
    assert.equal(typeof body.error?.message, 'string', name);
  }
  const ok = expect.some((e) => e.status === a.status && (e.code === undefined || e.code === body.error?.code));
  assert.ok(
    ok,
    `${name}: got ${a.status} ${body.error?.code ?? ''}, expected ${expect.map((e) => `${e.status} ${e.code ?? ''}`.trim()).join(' or ')}`,
  );
}

describe('hostile and malformed input', () => {
  let svc: TestService;
  let corpus: Corpus;
  let port: number;
  before(async () => {
    svc = await startTestService({
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
      LINGER_TIMEOUT_MS: String(LINGER_TIMEOUT_MS),
      LINGER_IDLE_MS: '300',
      MAX_INPUT_PIXELS: String(MAX_INPUT_PIXELS),
    });
    port = svc.frontend.port;
    corpus = await buildCorpus({ maxInputPixels: MAX_INPUT_PIXELS });
  });
  after(() => svc?.close());

  const good = async () => {
    const res = await fetch(`${svc.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: corpus.upright as unknown as BodyInit,
    });
    assert.equal(res.status, 200, await res.clone().text());
    return res;
  };

  it('answers every corpus case with its status and the JSON shape, leaking nothing', async () => {
    const report: string[] = [];
    for (const c of corpus.cases) {
      const a = await send(svc.url, c);
      report.push(`${a.status} ${(JSON.parse(a.text) as { error?: { code: string } }).error?.code ?? ''} ${c.name}`);
      assertErrorShape(c.name, a, c.expect);
      if (c.name === 'multipart with two image fields' && a.status === 200) {
        const body = JSON.parse(a.text) as { results: unknown[] };
        assert.equal(body.results.length, 2, 'two images, two result lists');
      }
    }
    console.log(`# ${corpus.cases.length} corpus cases:\n# ${report.join('\n# ')}`);
    await good();
  });

  it('applies the EXIF orientation: the rotated-with-EXIF image scores like the upright one', async () => {
    const scores = async (bytes: Buffer) => {
      const res = await fetch(`${svc.url}/predict?topk=100`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: bytes as unknown as BodyInit,
      });
      assert.equal(res.status, 200);
      const { predictions } = (await res.json()) as { predictions: Array<{ label: string; probability: number }> };
      return Object.fromEntries(predictions.map((p) => [p.label, p.probability]));
    };
    const [upright, exif, sideways] = await Promise.all([
      scores(corpus.upright),
      scores(corpus.exifRotated),
      scores(corpus.sideways),
    ]);
    const diff = (a: Record<string, number>, b: Record<string, number>) =>
      Math.max(...Object.keys(a).map((k) => Math.abs(a[k]! - b[k]!)));
    console.log(
      `# orientation: |upright - exif| = ${diff(upright, exif).toFixed(4)}, |upright - sideways (no EXIF)| = ${diff(upright, sideways).toFixed(4)}`,
    );
    assert.ok(diff(upright, exif) < 0.02, "EXIF-rotated scores equal the upright image's");
    // Where the model can tell the orientations apart at all, EXIF must land on the upright side.
    if (diff(upright, sideways) > 0.05) assert.ok(diff(upright, exif) < diff(upright, sideways) / 3);
  });

  it('refuses a declared body over the limit at once, without reading it (413)', async () => {
    const a = await rawHttp(port, [
      `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${50 * BODY_LIMIT}\r\n\r\n`,
      Buffer.alloc(100, 1),
    ]);
    assert.equal(a.status, 413);
    assert.equal(JSON.parse(a.text).error.code, 'BODY_TOO_LARGE');
    assert.ok(a.ms < 2000, `answered after ${a.ms} ms`);
    await good();
  });

  it('refuses a streamed (chunked) body once it crosses the limit (413)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const parts: Array<string | Buffer | number> = [
      'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n',
    ];
    for (let i = 0; i < 40; i++) parts.push(`${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
    parts.push('0\r\n\r\n');
    const a = await rawHttp(port, parts);
    assertErrorShape('chunked over the limit', a, [{ status: 413, code: 'BODY_TOO_LARGE' }]);
    await good();
  });

  it('cuts off a body that never finishes (408 after BODY_TIMEOUT_MS)', async () => {
    const drip: Array<string | Buffer | number> = [
      `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n`,
      Buffer.alloc(100, 1),
    ];
    for (let i = 0; i < 40; i++) drip.push(200, Buffer.alloc(1, 1));
    const a = await rawHttp(port, drip);
    assertErrorShape('slow body', a, [{ status: 408, code: 'BODY_TIMEOUT' }]);
    const most = BODY_TIMEOUT_MS + LINGER_TIMEOUT_MS + 3000;
    assert.ok(a.ms >= BODY_TIMEOUT_MS - 50 && a.ms < most, `answered after ${a.ms} ms`);
    await good();
  });

  it('survives broken HTTP: bad Content-Length, garbage request line, hostile X-Request-Id, header flood', async () => {
    const badLength = await rawHttp(port, [
      'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: abc\r\n\r\nxyz',
    ]);
    assert.ok(
      badLength.status === 0 || (badLength.status >= 400 && badLength.status < 500),
      `bad Content-Length: ${badLength.status}`,
    );
    assert.doesNotMatch(badLength.text, LEAK);
    const negative = await rawHttp(port, [
      'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: -5\r\n\r\n',
    ]);
    assert.ok(
      negative.status === 0 || (negative.status >= 400 && negative.status < 500),
      `negative Content-Length: ${negative.status}`,
    );
    // Not HTTP at all (a TLS hello): uWS holds the socket until its idle timeout; meanwhile everyone else is served.
    const garbage = connect(port, '127.0.0.1');
    garbage.on('error', () => {});
    garbage.write(Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n', 'latin1'));
    await good();
    garbage.destroy();
    const flood = await rawHttp(port, [
      `POST /predict HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 500 }, (_, i) => `X-H${i}: ${'v'.repeat(200)}\r\n`).join('')}\r\n`,
    ]);
    assert.ok(flood.status === 0 || flood.status >= 400, `header flood: ${flood.status}`);

    const hostileId = `${'<script>'.repeat(40)}`;
    const res = await fetch(`${svc.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg', 'x-request-id': hostileId },
      body: corpus.upright as unknown as BodyInit,
    });
    assert.equal(res.status, 200);
    assert.notEqual(res.headers.get('x-request-id'), hostileId);
    assert.match(res.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{1,128}$/);
    await good();
  });

  it('is still healthy after all of it', async () => {
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${svc.url}/readyz`)).status, 200);
    assert.equal(svc.frontend.pendingCount(), 0);
    assert.equal(svc.host.inFlight(), 0);
  });
});
