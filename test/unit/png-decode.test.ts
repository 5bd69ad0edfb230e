/**
 * The PNG decoder on Node's zlib (src/preprocess/png-decode.ts) against libvips (sharp) on every colour type and
 * bit depth, tRNS in each form, Adam7 interlacing and each of the five scanline filters: the same 8-bit samples,
 * byte for byte. PNGs are written here by a small encoder, so that every combination exists; sharp's own encoder
 * adds the everyday ones. Damaged PNGs are refused with a reason.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodePng, PngDecodeError } from '../../src/preprocess/png-decode.ts';
import { SIMD_MAX_ROW } from '../../src/preprocess/png-simd.ts';
import { paethPredictor } from '../../src/preprocess/png-unfilter.ts';
import { readPngHeader, type PngHeader } from '../../src/preprocess/png-header.ts';
import { seededBytes } from '../helpers/seeded-values.ts';

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Filters rows of packed samples with filter (first + row) % 5, so that every filter type is exercised. */
function filterRows(rows: Buffer[], bpp: number, first: number): Buffer {
  const out: Buffer[] = [];
  rows.forEach((row, y) => {
    const up = y > 0 ? rows[y - 1]! : Buffer.alloc(row.length);
    const filter = (first + y) % 5;
    const line = Buffer.alloc(row.length + 1);
    line[0] = filter;
    for (let i = 0; i < row.length; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = up[i]!;
      const c = i >= bpp ? up[i - bpp]! : 0;
      const pa = Math.abs(b - c);
      const pb = Math.abs(a - c);
      const pc = Math.abs(a + b - 2 * c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter]!;
      line[i + 1] = (row[i]! - predictor) & 0xff;
    }
    out.push(line);
  });
  return Buffer.concat(out);
}

interface Spec {
  width: number;
  height: number;
  colorType: number;
  depth: number;
  interlaced?: boolean;
  palette?: Buffer;
  trns?: Buffer;
  seed: number;
  /** The filter of each image's (and each Adam7 pass's) first row, which has no row above. */
  firstFilter?: number;
}

/** A PNG of seeded random samples (palette indices below the palette's size). */
function encodePng(spec: Spec): Buffer {
  const { width, height, colorType, depth, interlaced = false } = spec;
  const samples = CHANNELS[colorType]!;
  const entries = spec.palette ? spec.palette.length / 3 : 0;
  const random = seededBytes(spec.seed, width * height * samples * 2);
  const value = (i: number) => {
    const v = (random[2 * i]! << 8) | random[2 * i + 1]!;
    return colorType === 3 ? v % entries : v >> (16 - depth);
  };
  // Packs the samples of pixels (x, y) for x in xs into one row.
  const packRow = (y: number, xs: number[]): Buffer => {
    const row = Buffer.alloc(Math.ceil((xs.length * samples * depth) / 8));
    xs.forEach((x, k) => {
      for (let c = 0; c < samples; c++) {
        const v = value((y * width + x) * samples + c);
        const bit = (k * samples + c) * depth;
        if (depth === 16) row.writeUInt16BE(v, bit / 8);
        else if (depth === 8) row[bit / 8] = v;
        else row[bit >> 3]! |= v << (8 - depth - (bit & 7));
      }
    });
    return row;
  };
  const bpp = Math.max(1, (samples * depth) >> 3);
  const range = (start: number, end: number, step: number) =>
    Array.from({ length: Math.max(0, Math.ceil((end - start) / step)) }, (_, i) => start + i * step);
  const idat = interlaced
    ? Buffer.concat(
        ADAM7.map(([x0, y0, dx, dy]) => {
          const xs = range(x0, width, dx);
          if (xs.length === 0) return Buffer.alloc(0);
          return filterRows(
            range(y0, height, dy).map((y) => packRow(y, xs)),
            bpp,
            spec.firstFilter ?? 0,
          );
        }),
      )
    : filterRows(
        range(0, height, 1).map((y) => packRow(y, range(0, width, 1))),
        bpp,
        spec.firstFilter ?? 0,
      );
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([depth, colorType, 0, 0, interlaced ? 1 : 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(spec.palette ? [chunk('PLTE', spec.palette)] : []),
    ...(spec.trns ? [chunk('tRNS', spec.trns)] : []),
    // Split in two IDAT chunks: a decoder must join them.
    chunk('IDAT', deflateSync(idat).subarray(0, 7)),
    chunk('IDAT', deflateSync(idat).subarray(7)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function header(png: Buffer): PngHeader {
  const h = readPngHeader(png);
  assert.ok(typeof h !== 'string', String(h));
  return h;
}

async function assertSameAsLibvips(png: Buffer, name: string): Promise<void> {
  const decoded = decodePng(png, header(png));
  const { data, info } = await sharp(png).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  // sharp hands grey out as RGB: the same values three times.
  const ours =
    info.channels === decoded.format.channels + 2 ? greyAsRgb(decoded.data, decoded.format.channels) : decoded.data;
  assert.equal(ours.length, data.length, `${name}: length (${decoded.format.channels} vs ${info.channels} channels)`);
  assertSameBytes(ours, data, name);
  // The 'rgb' output, with the conversion fused into the decode: the stored pixels composed over white.
  const rgb = decodePng(png, header(png), 'rgb');
  assert.equal(rgb.format.channels, 3, `${name}: rgb channels`);
  assertSameBytes(rgb.data, overWhite(decoded.data, decoded.format.channels), `${name} as RGB`);
}

function assertSameBytes(ours: Uint8Array, theirs: Uint8Array, name: string): void {
  assert.equal(ours.length, theirs.length, `${name}: length`);
  const first = ours.findIndex((v, i) => v !== theirs[i]);
  assert.equal(first, -1, `${name}: first difference at byte ${first}: ${ours[first]} vs ${theirs[first]}`);
}

/** RGB over white, as libvips flattens: c·a + 255·(1 − a) for a in 0…1, rounded; grey repeated three times. */
function overWhite(pixels: Uint8Array, channels: number): Uint8Array {
  const out = new Uint8Array((pixels.length / channels) * 3);
  const colour = channels >= 3;
  for (let i = 0, o = 0; i < pixels.length; i += channels, o += 3) {
    const a = channels % 2 === 0 ? pixels[i + channels - 1]! / 255 : 1;
    for (let k = 0; k < 3; k++) out[o + k] = Math.round(pixels[i + (colour ? k : 0)]! * a + 255 * (1 - a));
  }
  return out;
}

function greyAsRgb(grey: Uint8Array, channels: number): Uint8Array {
  const alpha = channels === 2;
  const out = new Uint8Array((grey.length / channels) * (alpha ? 4 : 3));
  for (let i = 0, o = 0; i < grey.length; i += channels) {
    out[o++] = out[o++] = out[o++] = grey[i]!;
    if (alpha) out[o++] = grey[i + 1]!;
  }
  return out;
}

describe('decodePng', () => {
  const palette = Buffer.from(seededBytes(7, 3 * 200));
  const cases: Array<[string, Omit<Spec, 'width' | 'height' | 'seed'>]> = [
    ['grey 1-bit', { colorType: 0, depth: 1 }],
    ['grey 2-bit', { colorType: 0, depth: 2 }],
    ['grey 4-bit', { colorType: 0, depth: 4 }],
    ['grey 8-bit', { colorType: 0, depth: 8 }],
    ['grey 16-bit', { colorType: 0, depth: 16 }],
    ['grey 8-bit, tRNS key', { colorType: 0, depth: 8, trns: Buffer.from([0, 17]) }],
    ['grey 2-bit, tRNS key', { colorType: 0, depth: 2, trns: Buffer.from([0, 1]) }],
    ['RGB 8-bit', { colorType: 2, depth: 8 }],
    ['RGB 16-bit', { colorType: 2, depth: 16 }],
    ['RGB 8-bit, tRNS key', { colorType: 2, depth: 8, trns: Buffer.from([0, 3, 0, 5, 0, 7]) }],
    ['palette 1-bit', { colorType: 3, depth: 1, palette: palette.subarray(0, 6) }],
    ['palette 4-bit', { colorType: 3, depth: 4, palette: palette.subarray(0, 48) }],
    ['palette 8-bit', { colorType: 3, depth: 8, palette }],
    ['palette 8-bit, short tRNS', { colorType: 3, depth: 8, palette, trns: Buffer.from(seededBytes(9, 100)) }],
    ['grey + alpha 8-bit', { colorType: 4, depth: 8 }],
    ['grey + alpha 16-bit', { colorType: 4, depth: 16 }],
    ['RGBA 8-bit', { colorType: 6, depth: 8 }],
    ['RGBA 16-bit', { colorType: 6, depth: 16 }],
  ];
  for (const [name, spec] of cases) {
    it(`${name}, plain and Adam7-interlaced: the samples libvips decodes`, async () => {
      // Odd sizes: partial bytes at row ends, empty Adam7 passes for the 1×1 and 3×1. Each size starts its rows
      // (and each Adam7 pass) with another filter, so that all five meet a first row, which has no row above.
      const sizes = [
        [37, 23],
        [1, 1],
        [3, 1],
        [9, 17],
        [6, 5],
      ] as const;
      for (const [firstFilter, [width, height]] of sizes.entries()) {
        for (const interlaced of [false, true]) {
          const png = encodePng({ ...spec, width, height, interlaced, firstFilter, seed: width * 31 + height });
          await assertSameAsLibvips(png, `${name} ${width}×${height}${interlaced ? ' interlaced' : ''}`);
        }
      }
    });
  }

  it('unfilters rows too long for the SIMD slots (RGB and RGBA over 32 KiB a row) with the JavaScript loops', async () => {
    const width = Math.floor(SIMD_MAX_ROW / 3) + 1;
    for (const colorType of [2, 6]) {
      for (const [firstFilter, height] of [
        [3, 6],
        [4, 5],
      ] as const) {
        const png = encodePng({ width, height, colorType, depth: 8, firstFilter, seed: colorType + height });
        await assertSameAsLibvips(png, `${width}×${height} colour type ${colorType}`);
      }
    }
  });

  it('decodes the same bytes without WebAssembly (node --jitless), where the JavaScript loops do every row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'png-jitless-'));
    try {
      const files = [2, 6].map((colorType) => {
        const file = join(dir, `type-${colorType}.png`);
        writeFileSync(file, encodePng({ width: 61, height: 23, colorType, depth: 8, firstFilter: 3, seed: colorType }));
        return file;
      });
      const script = `
        const { readFileSync } = await import('node:fs');
        const { decodePng } = await import(${JSON.stringify(new URL('../../src/preprocess/png-decode.ts', import.meta.url).href)});
        const { readPngHeader } = await import(${JSON.stringify(new URL('../../src/preprocess/png-header.ts', import.meta.url).href)});
        const out = ${JSON.stringify(files)}.map((f) => { const png = readFileSync(f); return Buffer.from(decodePng(png, readPngHeader(png), 'rgb').data).toString('base64'); });
        console.log(JSON.stringify({ wasm: typeof WebAssembly, out }));`;
      const child = JSON.parse(
        execFileSync(process.execPath, ['--jitless', '--import', 'tsx', '--input-type=module', '-e', script], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }),
      ) as { wasm: string; out: string[] };
      assert.equal(child.wasm, 'undefined', 'the child has no WebAssembly');
      files.forEach((file, i) => {
        const png = readFileSync(file);
        const here = decodePng(png, header(png), 'rgb').data;
        assertSameBytes(Buffer.from(child.out[i]!, 'base64'), here, file);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes what sharp encodes, RGB and RGBA, plain and interlaced, as libvips does', async () => {
    // Sizes whose rows hold many pixels: the 3- and 4-byte filter loops run over whole rows of a real encoder.
    const raw = Buffer.from(seededBytes(5, 301 * 67 * 4)).map((v, i) => (v >> 3) + ((i >> 5) & 0x7f));
    for (const channels of [3, 4] as const) {
      for (const progressive of [false, true]) {
        const png = await sharp(raw.subarray(0, 301 * 67 * channels), { raw: { width: 301, height: 67, channels } })
          .png({ adaptiveFiltering: true, progressive })
          .toBuffer();
        await assertSameAsLibvips(png, `sharp ${channels} channels${progressive ? ' interlaced' : ''}`);
      }
    }
  });

  it('decodes what sharp encodes: a photo-like RGB PNG at every compression level', async () => {
    const raw = Buffer.from(seededBytes(3, 120 * 80 * 3)).map((v, i) => (v >> 2) + ((i >> 6) & 0x3f));
    for (const compressionLevel of [0, 6, 9]) {
      const png = await sharp(raw, { raw: { width: 120, height: 80, channels: 3 } })
        .png({ compressionLevel, adaptiveFiltering: true })
        .toBuffer();
      await assertSameAsLibvips(png, `level ${compressionLevel}`);
    }
  });

  it('refuses damaged PNGs with a reason: bad CRC, truncated, short or long IDAT, bad filter, palette index past the end', () => {
    const good = encodePng({ width: 8, height: 8, colorType: 2, depth: 8, seed: 1 });
    const flipped = Buffer.from(good);
    flipped[good.length - 20]! ^= 0xff; // inside the last IDAT: its CRC no longer matches
    const shortIdat = Buffer.concat([
      good.subarray(0, 33),
      chunk('IDAT', deflateSync(Buffer.alloc(10))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    // 8×8 RGB holds 8 × 25 bytes: one row more must be refused, not cut off quietly.
    const longIdat = Buffer.concat([
      good.subarray(0, 33),
      chunk('IDAT', deflateSync(Buffer.alloc(9 * 25))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    const badFilter = Buffer.concat([
      good.subarray(0, 33),
      chunk('IDAT', deflateSync(Buffer.alloc(8 * 25, 9))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    const smallPalette = encodePng({
      width: 8,
      height: 8,
      colorType: 3,
      depth: 8,
      palette: Buffer.from(seededBytes(2, 3 * 200)),
      seed: 4,
    });
    // Rewrite its PLTE (the chunk after IHDR) to 2 entries: most indices now point past it.
    const plte = 33;
    const shrunk = Buffer.concat([
      smallPalette.subarray(0, plte),
      chunk('PLTE', smallPalette.subarray(plte + 8, plte + 14)),
      smallPalette.subarray(plte + 12 + 600),
    ]);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['bad CRC', flipped, /CRC/],
      ['truncated', good.subarray(0, good.length - 30), /truncated/],
      ['short IDAT', shortIdat, /IDAT holds/],
      ['long IDAT', longIdat, /IDAT: /],
      ['bad filter', badFilter, /filter/],
      ['palette index', shrunk, /palette index/],
    ];
    for (const [name, png, reason] of cases) {
      assert.throws(
        () => decodePng(png, header(png)),
        (err: Error) => err instanceof PngDecodeError && reason.test(err.message),
        name,
      );
    }
  });

  it("chooses Paeth's predictor as the PNG specification says, for every a, b and c", () => {
    let wrong = 0;
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        for (let c = 0; c < 256; c++) {
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          const expected = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          if (paethPredictor(a, b, c) !== expected) wrong++;
        }
      }
    }
    assert.equal(wrong, 0);
  });
});
