/**
 * A corpus of hostile, malformed and unusual-but-valid /predict requests, built with sharp and plain bytes, each
 * with the answers it may get. Used by test/integration/hostile-input.test.ts; every case must be answered with
 * the JSON error shape (or 200 for valid images) and must never take the service down.
 */
import { crc32, deflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';

export interface CorpusCase {
  name: string;
  /** How the bytes are sent: as multipart field(s), or as the raw body with `type`. */
  body:
    | { kind: 'multipart'; parts: Array<{ field: string; bytes: Uint8Array; type?: string; filename?: string }> }
    | { kind: 'raw'; bytes: Uint8Array; type?: string }
    | { kind: 'custom'; bytes: Uint8Array; type: string };
  query?: string;
  /** Acceptable statuses (and, for errors, codes). */
  expect: Array<{ status: number; code?: string }>;
}

const err = (status: number, code: string) => ({ status, code });
const OK = { status: 200 };

/** A photo-like 160×128 test image: gradients and shapes, asymmetric (so rotations are visible to a model). */
export async function baseImage(): Promise<Sharp> {
  const w = 160;
  const h = 128; // both sides multiples of 16: a 90° turn keeps the JPEG block grid
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      raw[i] = (x * 255) / w;
      raw[i + 1] = (y * 255) / h;
      raw[i + 2] = x < w / 3 && y < h / 2 ? 230 : 40;
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } });
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A ~100-byte PNG whose IHDR declares width × height (a decompression bomb's header). */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(1024))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Patches the frame size in a baseline JPEG's SOF0 marker. */
function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9; i++) {
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
  }
  throw new Error('no SOF marker');
}

/** Patches a GIF's logical screen and first image descriptor size (walking the blocks to find the descriptor). */
function gifDeclaring(gif: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(gif);
  out.writeUInt16LE(width, 6);
  out.writeUInt16LE(height, 8);
  let p = 13 + (out[10]! & 0x80 ? 3 * 2 ** ((out[10]! & 7) + 1) : 0); // after the global colour table
  while (p < out.length && out[p] === 0x21) {
    p += 2; // extension introducer and label, then sub-blocks up to a zero-length one
    while (p < out.length && out[p] !== 0) p += out[p]! + 1;
    p++;
  }
  if (out[p] !== 0x2c) throw new Error('no GIF image descriptor found');
  out.writeUInt16LE(width, p + 5);
  out.writeUInt16LE(height, p + 7);
  return out;
}

/** A lossless WebP (VP8L) with its 14-bit width and height patched. */
function webpDeclaring(webp: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(webp);
  const at = out.indexOf('VP8L', 12, 'ascii');
  if (at < 0) throw new Error('not a VP8L webp');
  const p = at + 8 + 1; // after the chunk header and the 0x2f signature
  const bits = out.readUInt32LE(p);
  const packed = ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14) | (bits & ~0x0fffffff);
  out.writeUInt32LE(packed >>> 0, p);
  return out;
}

const truncate = (b: Buffer, fraction = 0.6) => b.subarray(0, Math.floor(b.length * fraction));

/** Overwrites a run of bytes in the middle (after the headers) with random bytes. */
function corrupt(b: Buffer, seed = 1): Buffer {
  const out = Buffer.from(b);
  const start = Math.floor(out.length * 0.5);
  for (let i = 0; i < 64 && start + i < out.length - 4; i++) out[start + i] = (i * 97 + seed * 31) & 0xff;
  return out;
}

export interface Corpus {
  cases: CorpusCase[];
  /** For the orientation check: the same picture upright, and stored sideways with an EXIF orientation tag. */
  upright: Buffer;
  exifRotated: Buffer;
  sideways: Buffer;
}

export async function buildCorpus(opts: { maxInputPixels: number }): Promise<Corpus> {
  const base = await baseImage();
  const png = await base.clone().png().toBuffer();
  const jpeg = await base.clone().jpeg({ quality: 90 }).toBuffer();
  const gif = await base.clone().gif().toBuffer();
  const webp = await base.clone().webp({ quality: 80 }).toBuffer();
  const webpLossless = await base.clone().resize(16, 16).webp({ lossless: true }).toBuffer();
  const tiff = await base.clone().tiff().toBuffer();

  // Valid but unusual.
  const cmyk = await base.clone().toColourspace('cmyk').jpeg().toBuffer();
  const png16 = await base.clone().toColourspace('rgb16').png().toBuffer();
  const gray = await base.clone().toColourspace('b-w').png().toBuffer();
  const grayJpeg = await base.clone().toColourspace('b-w').jpeg().toBuffer();
  const palette = await base.clone().png({ palette: true, colours: 16 }).toBuffer();
  const alpha = await base.clone().ensureAlpha(0.3).png().toBuffer();
  const grayAlpha = await base.clone().toColourspace('b-w').ensureAlpha(0.5).png().toBuffer();
  const progressive = await base.clone().jpeg({ progressive: true }).toBuffer();
  const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  const wide = await sharp({ create: { width: 4000, height: 2, channels: 3, background: '#336699' } })
    .png()
    .toBuffer();
  const avif = await base.clone().avif({ quality: 50, effort: 0 }).toBuffer();
  const frames = 3;
  const tall = await sharp({ create: { width: 160, height: 120 * frames, channels: 3, background: '#204060' } })
    .composite([{ input: png, top: 0, left: 0 }])
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pages = { width: 160, height: 120 * frames, channels: 3 as const, pageHeight: 120 };
  const animatedGif = await sharp(tall.data, { raw: pages }).gif({ loop: 0, delay: 100 }).toBuffer();
  const multiTiff = await sharp(tall.data, { raw: pages }).tiff().toBuffer();

  // Orientation: EXIF 6 means "rotate 90° clockwise to display"; store the pixels 90° counter-clockwise.
  const q = { quality: 98, chromaSubsampling: '4:4:4' };
  // A real photo (synthetic shapes make the model's scores jumpy), sides multiples of 16 to keep the JPEG grid.
  const photo = sharp(await readFile(new URL('../../examples/chelsea.png', import.meta.url))).resize(320, 224, {
    fit: 'fill',
  });
  const upright = await photo.clone().jpeg(q).toBuffer();
  const sideways = await photo.clone().rotate(-90).jpeg(q).toBuffer();
  const exifRotated = await photo.clone().rotate(-90).withMetadata({ orientation: 6 }).jpeg(q).toBuffer();

  // Bigger than the pixel limit, for real (a solid colour: a few KB encoded).
  const side = Math.ceil(Math.sqrt(opts.maxInputPixels)) + 100;
  const realBomb = await sharp({ create: { width: side, height: side, channels: 3, background: '#000000' } })
    .png({ compressionLevel: 9 })
    .toBuffer();

  const svg = Buffer.from(
    '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect width="100" height="100" fill="red"/></svg>',
  );
  const svgNoDecl = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><circle r="50"/></svg>',
  );
  const html = Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>');
  const json = Buffer.from(JSON.stringify({ image: 'aGVsbG8=', url: 'http://169.254.169.254/' }));
  const text = Buffer.from('hello, this is not an image\n'.repeat(20));

  const mp = (bytes: Uint8Array, type = 'application/octet-stream', field = 'image') => ({
    kind: 'multipart' as const,
    parts: [{ field, bytes, type }],
  });
  const raw = (bytes: Uint8Array, type: string) => ({ kind: 'raw' as const, bytes, type });
  const INVALID = err(400, 'INVALID_IMAGE');
  const UNSUPPORTED = err(415, 'UNSUPPORTED_MEDIA_TYPE');
  const TOO_LARGE = err(413, 'IMAGE_TOO_LARGE');
  const MISSING = err(400, 'MISSING_IMAGE');

  const cases: CorpusCase[] = [
    // Nothing, or not an image at all.
    { name: 'zero bytes (multipart)', body: mp(new Uint8Array(0)), expect: [MISSING] },
    { name: 'zero bytes (raw image/png)', body: raw(new Uint8Array(0), 'image/png'), expect: [MISSING] },
    {
      name: 'no body, no content type',
      body: { kind: 'custom', bytes: new Uint8Array(0), type: '' },
      expect: [MISSING, UNSUPPORTED],
    },
    { name: 'random bytes 1 KiB', body: mp(randomBytes(1024)), expect: [UNSUPPORTED] },
    { name: 'random bytes 256 KiB (raw)', body: raw(randomBytes(256 * 1024), 'image/jpeg'), expect: [UNSUPPORTED] },
    { name: 'text as image', body: mp(text, 'image/png'), expect: [UNSUPPORTED] },
    { name: 'HTML as image (raw)', body: raw(html, 'image/jpeg'), expect: [UNSUPPORTED] },
    { name: 'JSON as image', body: mp(json, 'image/png'), expect: [UNSUPPORTED] },
    { name: 'JSON body', body: raw(json, 'application/json'), expect: [UNSUPPORTED] },
    {
      name: 'random bytes behind a JPEG magic number',
      body: mp(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(2000)])),
      expect: [INVALID],
    },
    {
      name: 'random bytes behind a PNG signature',
      body: mp(Buffer.concat([png.subarray(0, 8), randomBytes(2000)])),
      expect: [INVALID],
    },
    { name: 'PNG signature only', body: mp(png.subarray(0, 8)), expect: [INVALID] },
    { name: 'GIF header only', body: mp(Buffer.from('GIF89a')), expect: [INVALID] },
    { name: 'JPEG SOI only', body: mp(Buffer.from([0xff, 0xd8, 0xff])), expect: [INVALID] },
    {
      name: 'RIFF/WEBP header only',
      body: mp(Buffer.concat([Buffer.from('RIFF'), Buffer.from([4, 0, 0, 0]), Buffer.from('WEBP')])),
      expect: [INVALID],
    },
    {
      name: 'TIFF header only',
      body: mp(Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0])),
      expect: [INVALID, UNSUPPORTED],
    },
    {
      name: 'AVIF ftyp box only',
      body: mp(Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypavif'), Buffer.alloc(12)])),
      expect: [INVALID, UNSUPPORTED],
    },

    // Truncated and corrupted images.
    { name: 'truncated JPEG', body: mp(truncate(jpeg)), expect: [INVALID] },
    { name: 'truncated PNG', body: mp(truncate(png)), expect: [INVALID] },
    { name: 'truncated GIF', body: mp(truncate(gif)), expect: [INVALID] },
    { name: 'truncated WebP', body: mp(truncate(webp)), expect: [INVALID] },
    { name: 'truncated TIFF', body: mp(truncate(tiff)), expect: [INVALID, UNSUPPORTED] },
    { name: 'truncated AVIF', body: mp(truncate(avif)), expect: [INVALID, UNSUPPORTED] },
    // Corrupt entropy-coded data: a decoder may recover a damaged picture (200) or refuse it (400).
    { name: 'corrupted JPEG data', body: mp(corrupt(jpeg)), expect: [OK, INVALID] },
    { name: 'corrupted PNG data (bad CRC / zlib)', body: mp(corrupt(png)), expect: [INVALID] },
    { name: 'corrupted GIF data', body: mp(corrupt(gif)), expect: [OK, INVALID] },
    { name: 'corrupted WebP data', body: mp(corrupt(webp)), expect: [OK, INVALID] },
    {
      name: 'PNG with a bad IHDR CRC',
      body: mp(Buffer.concat([png.subarray(0, 29), Buffer.from([0, 0, 0, 0]), png.subarray(33)])),
      expect: [INVALID],
    },

    // Decompression bombs: tiny files declaring huge images, refused from the header.
    { name: 'PNG bomb (IHDR 100000×100000)', body: mp(pngDeclaring(100_000, 100_000)), expect: [TOO_LARGE] },
    {
      name: 'PNG bomb (IHDR 2^31-1 × 2^31-1)',
      body: mp(pngDeclaring(0x7fffffff, 0x7fffffff)),
      expect: [TOO_LARGE, INVALID],
    },
    { name: 'JPEG bomb (SOF 65000×65000)', body: mp(jpegDeclaring(jpeg, 65000, 65000)), expect: [TOO_LARGE] },
    { name: 'GIF bomb (screen and frame 65535×65535)', body: mp(gifDeclaring(gif, 65535, 65535)), expect: [TOO_LARGE] },
    { name: 'WebP bomb (VP8L 16383×16383)', body: mp(webpDeclaring(webpLossless, 16383, 16383)), expect: [TOO_LARGE] },
    {
      name: `real PNG over the pixel limit (${side}×${side}, ${realBomb.length} bytes)`,
      body: mp(realBomb),
      expect: [TOO_LARGE],
    },

    // SVG is refused however it is labelled.
    { name: 'SVG (raw image/svg+xml)', body: raw(svg, 'image/svg+xml'), expect: [UNSUPPORTED] },
    { name: 'SVG (multipart, image/svg+xml part)', body: mp(svg, 'image/svg+xml'), expect: [UNSUPPORTED] },
    { name: 'SVG labelled image/png', body: raw(svgNoDecl, 'image/png'), expect: [UNSUPPORTED] },

    // Valid but unusual images: answered 200.
    { name: 'PNG', body: mp(png), expect: [OK] },
    { name: 'JPEG (raw)', body: raw(jpeg, 'image/jpeg'), expect: [OK] },
    { name: 'WebP', body: mp(webp), expect: [OK] },
    { name: 'GIF', body: mp(gif), expect: [OK] },
    { name: 'TIFF', body: mp(tiff), expect: [OK] },
    { name: 'AVIF', body: mp(avif), expect: [OK] },
    { name: 'multi-page TIFF (first page)', body: mp(multiTiff), expect: [OK] },
    { name: 'animated GIF (first frame)', body: mp(animatedGif), expect: [OK] },
    { name: 'CMYK JPEG', body: mp(cmyk), expect: [OK] },
    { name: '16-bit PNG', body: mp(png16), expect: [OK] },
    { name: 'grayscale PNG', body: mp(gray), expect: [OK] },
    { name: 'grayscale JPEG', body: mp(grayJpeg), expect: [OK] },
    { name: 'palette PNG', body: mp(palette), expect: [OK] },
    { name: 'RGBA PNG', body: mp(alpha), expect: [OK] },
    { name: 'gray + alpha PNG', body: mp(grayAlpha), expect: [OK] },
    { name: 'progressive JPEG', body: mp(progressive), expect: [OK] },
    { name: 'EXIF-rotated JPEG', body: mp(exifRotated), expect: [OK] },
    { name: '1×1 PNG', body: mp(tiny), expect: [OK] },
    { name: '4000×2 PNG', body: mp(wide), expect: [OK] },

    // Multipart trouble.
    { name: 'multipart without an image field', body: mp(png, 'image/png', 'file'), expect: [MISSING] },
    {
      name: 'multipart with two image fields',
      body: {
        kind: 'multipart',
        parts: [
          { field: 'image', bytes: png },
          { field: 'image', bytes: jpeg },
        ],
      },
      expect: [err(400, 'TOO_MANY_IMAGES'), OK],
    },
    {
      name: 'multipart with 2000 empty fields and no image (over MAX_MULTIPART_PARTS)',
      body: {
        kind: 'multipart',
        parts: Array.from({ length: 2000 }, (_, i) => ({ field: `f${i}`, bytes: new Uint8Array(0) })),
      },
      expect: [err(400, 'BAD_REQUEST')],
    },
    {
      name: 'multipart with a wrong boundary',
      body: {
        kind: 'custom',
        bytes: Buffer.from(
          `--real\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n${'x'.repeat(10)}\r\n--real--\r\n`,
        ),
        type: 'multipart/form-data; boundary=other',
      },
      expect: [err(400, 'BAD_REQUEST'), MISSING],
    },
    {
      name: 'multipart without a boundary',
      body: { kind: 'custom', bytes: png, type: 'multipart/form-data' },
      expect: [err(400, 'BAD_REQUEST')],
    },
    {
      name: 'multipart body that is garbage',
      body: { kind: 'custom', bytes: randomBytes(4096), type: 'multipart/form-data; boundary=xyz' },
      expect: [err(400, 'BAD_REQUEST'), MISSING],
    },
    {
      name: 'multipart never closed',
      body: {
        kind: 'custom',
        bytes: Buffer.concat([
          Buffer.from(
            '--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n',
          ),
          png,
        ]),
        type: 'multipart/form-data; boundary=b',
      },
      expect: [err(400, 'BAD_REQUEST'), MISSING, OK, INVALID],
    },

    // Wrong content types.
    { name: 'PNG as application/octet-stream', body: raw(png, 'application/octet-stream'), expect: [UNSUPPORTED] },
    { name: 'PNG as text/plain', body: raw(png, 'text/plain'), expect: [UNSUPPORTED] },
    {
      name: 'PNG as application/x-www-form-urlencoded',
      body: raw(png, 'application/x-www-form-urlencoded'),
      expect: [UNSUPPORTED],
    },
    { name: 'PNG without a content type', body: { kind: 'custom', bytes: png, type: '' }, expect: [UNSUPPORTED] },
    { name: 'JPEG bytes labelled image/png (sniffed, fine)', body: raw(jpeg, 'image/png'), expect: [OK] },

    // Bad parameters.
    { name: 'topk=-1', body: mp(png), query: '?topk=-1', expect: [err(400, 'BAD_REQUEST')] },
    { name: 'topk=1e400', body: mp(png), query: '?topk=1e400', expect: [err(400, 'BAD_REQUEST')] },
    { name: 'topk=%00', body: mp(png), query: '?topk=%00', expect: [err(400, 'BAD_REQUEST')] },
  ];
  return { cases, upright, exifRotated, sideways };
}
