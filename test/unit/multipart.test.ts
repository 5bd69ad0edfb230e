/**
 * The /predict body parser (image-input.ts over multipart.ts): every RFC spelling of the multipart Content-Type,
 * the parts and images limits enforced while parsing, and no long event-loop block on hostile bodies.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { extractImages } from '../../src/frontend/image-input.ts';
import { readMultipartImages, SLICE_BYTES } from '../../src/frontend/multipart.ts';

const MiB = 1024 * 1024;
const PNG = readFileSync(new URL('../../examples/chelsea.png', import.meta.url));
const LIMITS = { maxImages: 4, maxParts: 8 };

function form(
  boundary: string,
  parts: Array<{ name: string; bytes: Buffer; filename?: string; type?: string }>,
): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const file = p.filename === undefined ? '' : `; filename="${p.filename}"`;
    const type = p.type === undefined ? '' : `\r\nContent-Type: ${p.type}`;
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${file}${type}\r\n\r\n`),
      p.bytes,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** The attack of issue 12: a BODY_LIMIT_BYTES body of empty parts (about 1.16 million with a 1-byte boundary). */
function emptyParts(boundary: string, bytes: number, headers = ''): Buffer {
  const part = Buffer.from(`\r\n--${boundary}\r\n${headers}\r\n`);
  const n = Math.floor((bytes - 64) / part.length);
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\n${headers}\r\n`),
    Buffer.alloc(part.length * n, part),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

/** Runs `work` while measuring the most CPU time the event loop spent between two of its turns (CPU, not wall). */
async function longestBlockCpuMs<T>(work: () => Promise<T>): Promise<{ result: T; longestMs: number; turns: number }> {
  let longest = 0;
  let turns = 0;
  let last = process.cpuUsage();
  let running = true;
  const probe = () => {
    const now = process.cpuUsage();
    longest = Math.max(longest, (now.user - last.user + now.system - last.system) / 1000);
    last = now;
    turns++;
    if (running) setImmediate(probe);
  };
  setImmediate(probe);
  const result = await work();
  running = false;
  await new Promise((r) => setImmediate(r));
  return { result, longestMs: longest, turns };
}

describe('Content-Type spellings (RFC 2045/2046/7578/9110)', () => {
  const body = (b: string) => form(b, [{ name: 'image', bytes: PNG, filename: 'a.png', type: 'image/png' }]);
  const cases: Array<[string, string, string]> = [
    ['plain', 'multipart/form-data; boundary=abc', 'abc'],
    ['quoted boundary (.NET MultipartFormDataContent)', 'multipart/form-data; boundary="abc-123"', 'abc-123'],
    ['quoted boundary with a space', 'multipart/form-data; boundary="ab cd"', 'ab cd'],
    ['parameter after the boundary', 'multipart/form-data; boundary=abc; charset=utf-8', 'abc'],
    ['parameter before the boundary', 'multipart/form-data; charset=utf-8; boundary=abc', 'abc'],
    ['upper-case media type', 'Multipart/Form-Data; boundary=abc', 'abc'],
    ['all upper case', 'MULTIPART/FORM-DATA; BOUNDARY=abc', 'abc'],
    ['no space, upper-case parameter name', 'multipart/form-data;Boundary=abc', 'abc'],
    ['spaces around', '  multipart/form-data ;  boundary=abc  ', 'abc'],
  ];
  for (const [name, header, boundary] of cases) {
    it(`accepts ${name}: ${header}`, async () => {
      const input = await extractImages(body(boundary), header, LIMITS);
      assert.ok(input.ok, JSON.stringify(input));
      assert.equal(input.images.length, 1);
      assert.deepEqual(input.images[0], { ok: true, image: new Uint8Array(PNG), format: 'png' });
    });
  }
  it('accepts raw image bodies under any case of image/*, and refuses SVG', async () => {
    for (const header of ['image/png', 'IMAGE/PNG', 'Image/Jpeg; q=1', 'image/png;']) {
      const input = await extractImages(PNG, header, LIMITS);
      assert.ok(input.ok && input.images[0]!.ok, header);
    }
    assert.deepEqual(await extractImages(PNG, 'Image/SVG+xml', LIMITS), {
      ok: false,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: 'SVG is not accepted: send a raster image.',
    });
  });
  it('refuses multipart without a boundary or with an empty one, and other types', async () => {
    for (const header of [
      'multipart/form-data',
      'multipart/form-data; boundary=',
      'multipart/form-data; boundary=""',
    ]) {
      const input = await extractImages(body('abc'), header, LIMITS);
      assert.equal(!input.ok && input.code, 'BAD_REQUEST', header);
    }
    for (const header of ['', 'text/plain', 'application/octet-stream', 'multipart/mixed; boundary=abc']) {
      const input = await extractImages(body('abc'), header, LIMITS);
      assert.equal(!input.ok && input.code, 'UNSUPPORTED_MEDIA_TYPE', header);
    }
    const empty = await extractImages(Buffer.alloc(0), 'multipart/form-data; boundary=abc', LIMITS);
    assert.equal(!empty.ok && empty.code, 'MISSING_IMAGE');
  });
});

describe('multipart parts', () => {
  const boundary = 'b0undary';
  it('keeps upload order across files and plain fields, skipping other names, bytes unchanged', async () => {
    const bin = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 13, 10]);
    const body = form('b0undary', [
      { name: 'other', bytes: Buffer.from('x') },
      { name: 'image', bytes: Buffer.from('first'), filename: 'a' },
      { name: 'image', bytes: bin },
      { name: 'image', bytes: Buffer.from('third'), type: 'application/octet-stream' },
    ]);
    const parts = await readMultipartImages(body, boundary, 'image', LIMITS);
    assert.deepEqual(parts, { ok: true, images: [Buffer.from('first'), bin, Buffer.from('third')] });
  });
  it('allows exactly maxParts parts and maxImages images, refuses one more of either', async () => {
    const image = { name: 'image', bytes: PNG, filename: 'a.png' };
    const field = { name: 'note', bytes: Buffer.from('n') };
    const ok = await readMultipartImages(
      form('b0undary', [image, image, image, image, field, field, field, field]),
      boundary,
      'image',
      LIMITS,
    );
    assert.equal(ok.ok && ok.images.length, 4);
    const parts = await readMultipartImages(
      form('b0undary', [image, field, field, field, field, field, field, field, field]),
      boundary,
      'image',
      LIMITS,
    );
    assert.deepEqual(parts, { ok: false, reason: 'too-many-parts' });
    const images = await readMultipartImages(
      form('b0undary', [image, image, image, image, image]),
      boundary,
      'image',
      LIMITS,
    );
    assert.deepEqual(images, { ok: false, reason: 'too-many-images' });
  });
  it('refuses a body that is truncated, garbage or uses another boundary as malformed', async () => {
    const whole = form('b0undary', [{ name: 'image', bytes: PNG, filename: 'a.png' }]);
    for (const body of [
      whole.subarray(0, whole.length - 20),
      Buffer.from('garbage'.repeat(1000)),
      form('other', [{ name: 'image', bytes: PNG, filename: 'a' }]),
    ]) {
      assert.deepEqual(await readMultipartImages(body, boundary, 'image', LIMITS), { ok: false, reason: 'malformed' });
    }
  });
});

describe('hostile multipart bodies within BODY_LIMIT_BYTES (issue 12, defect 2)', () => {
  const limits = { maxImages: 16, maxParts: 64 };
  const bodies: Array<[string, Buffer, string]> = [
    ['1.16 million empty parts, no headers', emptyParts('X', 10 * MiB), 'multipart/form-data; boundary=X'],
    [
      '200,000 empty named fields',
      emptyParts('X', 10 * MiB, 'Content-Disposition: form-data; name="a"\r\n'),
      'multipart/form-data; boundary=X',
    ],
    [
      '200,000 empty image files',
      emptyParts('X', 10 * MiB, 'Content-Disposition: form-data; name="image"; filename="a"\r\n'),
      'multipart/form-data; boundary=X',
    ],
  ];
  for (const [name, body, header] of bodies) {
    it(`refuses ${name} with 400 after parsing only its start, never blocking the event loop for long`, async () => {
      const cpu = process.cpuUsage();
      const { result, longestMs } = await longestBlockCpuMs(() => extractImages(body, header, limits));
      const spent = process.cpuUsage(cpu);
      assert.equal(!result.ok && result.code, name.includes('image') ? 'TOO_MANY_IMAGES' : 'BAD_REQUEST');
      // Before the fix: 1.9 s of CPU in one block for the first body. Now a few slices: about 1 ms.
      assert.ok(longestMs < 100, `event loop blocked for ${longestMs} ms of CPU`);
      assert.ok(
        (spent.user + spent.system) / 1000 < 500,
        `parsing cost ${(spent.user + spent.system) / 1000} ms of CPU`,
      );
    });
  }
  it('parses a valid 10 MiB image part in slices, giving the event loop a turn whenever a stretch outlasts its period', async () => {
    const big = Buffer.alloc(10 * MiB - 4096, 0xab);
    PNG.copy(big);
    const boundary = '----formdata-undici-0123456789';
    const body = form(boundary, [{ name: 'image', bytes: big, filename: 'big.png', type: 'image/png' }]);
    const parsed = await longestBlockCpuMs(() =>
      extractImages(body, `multipart/form-data; boundary=${boundary}`, limits),
    );
    assert.ok(parsed.result.ok && parsed.result.images[0]!.ok);
    assert.equal(parsed.result.images[0]!.image.byteLength, big.length);
    assert.ok(parsed.longestMs < 100, `event loop blocked for ${parsed.longestMs} ms of CPU`);
    // A fast machine parses 10 MiB within one default period (2 ms) and owes no turn, so the yield itself is checked
    // with a period of 0: a turn after every slice, whatever the machine's speed.
    const slices = Math.ceil(body.length / SLICE_BYTES);
    const sliced = await longestBlockCpuMs(() => readMultipartImages(body, boundary, 'image', limits, 0));
    assert.ok(sliced.result.ok);
    assert.equal(sliced.result.images[0]!.byteLength, big.length);
    assert.ok(sliced.turns >= slices / 2, `the event loop got ${sliced.turns} turns for ${slices} slices`);
  });
});
