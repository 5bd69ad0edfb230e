/**
 * A PNG decoder on Node's own zlib: chunks checked by CRC, IDAT inflated natively into one buffer of the size the
 * header implies, scanlines unfiltered (png-unfilter.ts; WebAssembly SIMD for the photo cases, png-simd.ts), Adam7
 * passes placed, and rows written as 8-bit pixels (png-rows.ts), in their own channels or as RGB over white. An
 * 8-bit image that is not interlaced is unfiltered straight into the output. Its memory is ordinary JavaScript
 * memory that V8 sees and collects: @napi-rs/image, the decoder before it, kept each image's pixels until a garbage
 * collection that its hidden native memory never triggered (issue 20: gigabytes on noise PNGs). BENCHMARKS.md has
 * the costs.
 */
import { crc32, inflateSync } from 'node:zlib';
import { PngDecodeError } from './png-error.ts';
import type { PngHeader } from './png-header.ts';
import { rgbWriter, STORED_CHANNELS, storedWriter, type Ancillary } from './png-rows.ts';
import { NO_ROW_ABOVE, unfilterRow } from './png-unfilter.ts';
import type { PixelFormat } from './to-rgb.ts';

export { PngDecodeError };

export interface DecodedPng {
  /** 8-bit samples, `format.channels` per pixel. */
  data: Uint8Array;
  format: PixelFormat & { sample: 'u8' };
}

/** 'stored': the image's own channels (grey, grey + alpha, RGB, RGBA); 'rgb': RGB composed over white. */
export type PngOutput = 'stored' | 'rgb';

/** Adam7: x start, y start, x step, y step of each pass; an image that is not interlaced is one pass of all. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;
const PROGRESSIVE = [[0, 0, 1, 1]] as const;
/** The smallest chunkSize Node's zlib accepts. */
const MIN_ZLIB_CHUNK = 64;

export function decodePng(bytes: Uint8Array, header: PngHeader, output: PngOutput = 'stored'): DecodedPng {
  const { width, height, bitDepth, colorType } = header;
  const { idat, ...ancillary } = readChunks(bytes);
  if (colorType === 3 && !ancillary.palette) throw new PngDecodeError('palette image without PLTE');
  const bitsPerPixel = STORED_CHANNELS[colorType]! * bitDepth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const rowBytes = (w: number) => Math.ceil((w * bitsPerPixel) / 8);
  const passes = (header.interlaced ? ADAM7 : PROGRESSIVE)
    .map(([x0, y0, dx, dy]) => ({ x0, y0, dx, dy, w: Math.ceil((width - x0) / dx), h: Math.ceil((height - y0) / dy) }))
    .filter((pass) => pass.w > 0 && pass.h > 0);
  const expected = passes.reduce((n, pass) => n + pass.h * (1 + rowBytes(pass.w)), 0);
  const raw = inflate(idat, expected);
  const writer = output === 'rgb' ? rgbWriter(header, ancillary) : storedWriter(header, ancillary);
  const out = Buffer.allocUnsafe(width * height * writer.channels);
  // The stored row is the output row: unfilter into the output, with the row above read back from it.
  const direct = !header.interlaced && bitDepth === 8 && writer.channels === STORED_CHANNELS[colorType];
  let offset = 0;
  for (const { x0, y0, dx, dy, w, h } of passes) {
    const rb = rowBytes(w);
    for (let y = 0, s = offset + 1; y < h; y++, s += rb + 1) {
      const ok = direct
        ? unfilterRow(raw[s - 1]!, raw, s, out, y * rb, y === 0 ? NO_ROW_ABOVE : (y - 1) * rb, rb, bpp)
        : unfilterRow(raw[s - 1]!, raw, s, raw, s, y === 0 ? NO_ROW_ABOVE : s - rb - 1, rb, bpp);
      if (!ok) throw new PngDecodeError(`unknown filter ${raw[s - 1]}`);
      if (!direct) writer.row(raw, s, w, out, (y0 + y * dy) * width + x0, dx);
    }
    offset += h * (1 + rb);
  }
  return { data: out, format: { channels: writer.channels, sample: 'u8' } };
}

/**
 * Inflates the joined IDAT data into one buffer of exactly the size the header implies: a chunk size one byte
 * larger makes Node's zlib write it in one call, where its default 16 KiB chunks cost a copy of each and a join.
 */
function inflate(idat: Uint8Array[], expected: number): Buffer {
  let raw: Buffer;
  try {
    const data = idat.length === 1 ? idat[0]! : Buffer.concat(idat);
    raw = inflateSync(data, { maxOutputLength: expected, chunkSize: Math.max(MIN_ZLIB_CHUNK, expected + 1) });
  } catch (err) {
    throw new PngDecodeError(`IDAT: ${(err as Error).message}`);
  }
  if (raw.length < expected) throw new PngDecodeError(`IDAT holds ${raw.length} of ${expected} bytes`);
  return raw;
}

function readChunks(bytes: Uint8Array): Ancillary & { idat: Uint8Array[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: Ancillary & { idat: Uint8Array[] } = { idat: [] };
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
