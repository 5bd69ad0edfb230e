/**
 * A PNG decoder on Node's own zlib: chunks checked by CRC, IDAT inflated natively within the size the header
 * implies, scanlines unfiltered, Adam7 passes placed, palette and tRNS expanded, 1/2/4-bit samples scaled and
 * 16-bit samples cut to their high byte (as libvips does). Its memory is ordinary JavaScript memory that V8 sees
 * and collects: @napi-rs/image, the decoder before it, kept each image's pixels until a garbage collection that
 * its hidden native memory never triggered (issue 20: gigabytes on noise PNGs). BENCHMARKS.md has the costs.
 */
import { crc32, inflateSync } from 'node:zlib';
import type { PngHeader } from './png-header.ts';
import type { PixelFormat } from './to-rgb.ts';

export interface DecodedPng {
  /** 8-bit samples, `format.channels` per pixel. */
  data: Uint8Array;
  format: PixelFormat & { sample: 'u8' };
}

/** Samples per pixel of each colour type, as stored. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7: x start, y start, x step, y step of each pass. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

export class PngDecodeError extends Error {}

interface Chunks {
  idat: Uint8Array[];
  palette?: Uint8Array;
  transparency?: Uint8Array;
}

export function decodePng(bytes: Uint8Array, header: PngHeader): DecodedPng {
  const { width, height, bitDepth, colorType } = header;
  const chunks = readChunks(bytes);
  if (colorType === 3 && !chunks.palette) throw new PngDecodeError('palette image without PLTE');
  const stored = CHANNELS[colorType]!;
  const passes = header.interlaced ? ADAM7.map(([x0, y0, dx, dy]) => passSize(width, height, x0, y0, dx, dy)) : [];
  const rowBytes = (w: number) => Math.ceil((w * stored * bitDepth) / 8);
  const expected = header.interlaced
    ? passes.reduce((n, p) => n + (p.w > 0 && p.h > 0 ? p.h * (1 + rowBytes(p.w)) : 0), 0)
    : height * (1 + rowBytes(width));
  let raw: Buffer;
  try {
    raw = inflateSync(concat(chunks.idat), { maxOutputLength: expected });
  } catch (err) {
    throw new PngDecodeError(`IDAT: ${(err as Error).message}`);
  }
  if (raw.length < expected) throw new PngDecodeError(`IDAT holds ${raw.length} of ${expected} bytes`);
  const expand = expander(header, chunks);
  const out = new Uint8Array(width * height * expand.channels);
  if (!header.interlaced) {
    unfilter(raw, 0, height, rowBytes(width), Math.max(1, (stored * bitDepth) >> 3));
    for (let y = 0; y < height; y++) expand.row(raw, y * (1 + rowBytes(width)) + 1, width, out, y * width, 1);
  } else {
    let offset = 0;
    ADAM7.forEach(([x0, y0, dx, dy], i) => {
      const { w, h } = passes[i]!;
      if (w === 0 || h === 0) return;
      const rb = rowBytes(w);
      unfilter(raw, offset, h, rb, Math.max(1, (stored * bitDepth) >> 3));
      for (let y = 0; y < h; y++) expand.row(raw, offset + y * (1 + rb) + 1, w, out, (y0 + y * dy) * width + x0, dx);
      offset += h * (1 + rb);
    });
  }
  return { data: out, format: { channels: expand.channels, sample: 'u8' } };
}

function passSize(width: number, height: number, x0: number, y0: number, dx: number, dy: number) {
  return { w: Math.ceil((width - x0) / dx), h: Math.ceil((height - y0) / dy) };
}

function readChunks(bytes: Uint8Array): Chunks {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: Chunks = { idat: [] };
  for (let p = 8; ; ) {
    if (p + 12 > bytes.length) throw new PngDecodeError('truncated before IEND');
    const length = view.getUint32(p);
    if (p + 12 + length > bytes.length) throw new PngDecodeError('truncated chunk');
    const type = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!);
    const data = bytes.subarray(p + 8, p + 8 + length);
    if (crc32(bytes.subarray(p + 4, p + 8 + length)) !== view.getUint32(p + 8 + length)) {
      throw new PngDecodeError(`bad CRC in ${type}`);
    }
    if (type === 'IEND') break;
    if (type === 'IDAT') chunks.idat.push(data);
    else if (type === 'PLTE') chunks.palette = data;
    else if (type === 'tRNS') chunks.transparency = data;
    p += 12 + length;
  }
  if (chunks.idat.length === 0) throw new PngDecodeError('no IDAT');
  return chunks;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  return Buffer.concat(parts);
}

/**
 * Undoes the scanline filters in place: `h` rows of a filter byte and `rb` bytes, `bpp` bytes per pixel (≥ 1).
 */
function unfilter(raw: Uint8Array, start: number, h: number, rb: number, bpp: number): void {
  for (let y = 0; y < h; y++) {
    const line = start + y * (rb + 1) + 1;
    // The row above; the first row's is all zeros, which makes Up a no-op and Average and Paeth read `a` only.
    const up = y === 0 ? -1 : line - (rb + 1);
    const filter = raw[line - 1]!;
    if (filter === 0 || (filter === 2 && up < 0)) continue;
    if (filter === 1 || ((filter === 4 || filter === 3) && up < 0)) {
      const half = filter === 3 ? 1 : 0;
      for (let i = bpp; i < rb; i++) raw[line + i] = (raw[line + i]! + (raw[line + i - bpp]! >> half)) & 0xff;
    } else if (filter === 2) {
      for (let i = 0; i < rb; i++) raw[line + i] = (raw[line + i]! + raw[up + i]!) & 0xff;
    } else if (filter === 3) {
      for (let i = 0; i < bpp; i++) raw[line + i] = (raw[line + i]! + (raw[up + i]! >> 1)) & 0xff;
      for (let i = bpp; i < rb; i++) {
        raw[line + i] = (raw[line + i]! + ((raw[line + i - bpp]! + raw[up + i]!) >> 1)) & 0xff;
      }
    } else if (filter === 4) {
      for (let i = 0; i < bpp; i++) raw[line + i] = (raw[line + i]! + raw[up + i]!) & 0xff;
      for (let i = bpp; i < rb; i++) {
        const a = raw[line + i - bpp]!;
        const b = raw[up + i]!;
        const c = raw[up + i - bpp]!;
        // Paeth's |p − a|, |p − b|, |p − c| for p = a + b − c.
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        raw[line + i] = (raw[line + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      }
    } else {
      throw new PngDecodeError(`unknown filter ${filter}`);
    }
  }
}

interface Expander {
  /** Channels out: grey 1, grey + alpha 2, RGB 3, RGBA 4. */
  channels: 1 | 2 | 3 | 4;
  /** Writes `w` pixels of the unfiltered row at `src` to `out`, starting at pixel `at`, every `step` pixels. */
  row(raw: Uint8Array, src: number, w: number, out: Uint8Array, at: number, step: number): void;
}

/** How stored samples become 8-bit output pixels, with tRNS turned into alpha. */
function expander(header: PngHeader, chunks: Chunks): Expander {
  const { bitDepth: depth, colorType } = header;
  const trns = chunks.transparency;
  const stored = CHANNELS[colorType]!;
  // The i-th sample of a row: 1/2/4-bit unpacked, 16-bit as its full value.
  const sample = (raw: Uint8Array, src: number, i: number): number => {
    if (depth === 8) return raw[src + i]!;
    if (depth === 16) return (raw[src + 2 * i]! << 8) | raw[src + 2 * i + 1]!;
    const bit = i * depth;
    return (raw[src + (bit >> 3)]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
  };
  const to8 = (v: number) => (depth === 16 ? v >> 8 : depth === 8 ? v : (v * 255) / ((1 << depth) - 1));
  if (colorType === 3) {
    const palette = chunks.palette!;
    const entries = Math.floor(palette.length / 3);
    const alpha = trns !== undefined;
    return {
      channels: alpha ? 4 : 3,
      row(raw, src, w, out, at, step) {
        for (let x = 0; x < w; x++) {
          const index = sample(raw, src, x);
          if (index >= entries) throw new PngDecodeError(`palette index ${index} of ${entries}`);
          const o = (at + x * step) * (alpha ? 4 : 3);
          out[o] = palette[3 * index]!;
          out[o + 1] = palette[3 * index + 1]!;
          out[o + 2] = palette[3 * index + 2]!;
          if (alpha) out[o + 3] = index < trns.length ? trns[index]! : 255;
        }
      },
    };
  }
  // Grey or RGB with one transparent colour (tRNS): an alpha channel, 0 where the stored samples match it.
  const key = trns && (colorType === 0 || colorType === 2) ? transparentKey(trns, colorType) : undefined;
  const channels = (stored + (key ? 1 : 0)) as 1 | 2 | 3 | 4;
  return {
    channels,
    row(raw, src, w, out, at, step) {
      // The common case, 8-bit grey/RGB/grey + alpha/RGBA without tRNS, is a copy.
      if (depth === 8 && !key && step === 1) return void out.set(raw.subarray(src, src + w * stored), at * stored);
      for (let x = 0; x < w; x++) {
        const o = (at + x * step) * channels;
        let transparent = key !== undefined;
        for (let c = 0; c < stored; c++) {
          const v = sample(raw, src, x * stored + c);
          if (key && v !== key[c]) transparent = false;
          out[o + c] = to8(v);
        }
        if (key) out[o + stored] = transparent ? 0 : 255;
      }
    },
  };
}

function transparentKey(trns: Uint8Array, colorType: number): number[] | undefined {
  const samples = colorType === 0 ? 1 : 3;
  if (trns.length < 2 * samples) return undefined;
  return Array.from({ length: samples }, (_, c) => (trns[2 * c]! << 8) | trns[2 * c + 1]!);
}
