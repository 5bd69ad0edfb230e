/**
 * Writers of unfiltered PNG rows into the output image: stored samples become 8-bit pixels (palette and tRNS
 * expanded, 1/2/4-bit samples scaled, 16-bit samples cut to their high byte, as libvips does), either in their own
 * channels or as RGB over white.
 */
import { PngDecodeError } from './png-error.ts';
import type { PngHeader } from './png-header.ts';
import { rgbRow } from './to-rgb.ts';

/** Samples per pixel of each colour type, as stored. */
export const STORED_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export interface RowWriter {
  /** Channels out: grey 1, grey + alpha 2, RGB 3, RGBA 4. */
  channels: 1 | 2 | 3 | 4;
  /** Writes `w` pixels of the unfiltered row at `src` to `out`, starting at pixel `at`, every `step` pixels. */
  row(raw: Uint8Array, src: number, w: number, out: Uint8Array, at: number, step: number): void;
}

export interface Ancillary {
  palette?: Uint8Array;
  transparency?: Uint8Array;
}

/** Writes pixels as RGB over white: 8-bit grey, grey + alpha and RGBA directly, the rest through one stored row. */
export function rgbWriter(header: PngHeader, ancillary: Ancillary): RowWriter {
  const stored = storedWriter(header, ancillary);
  if (stored.direct)
    return { channels: 3, row: (raw, src, w, out, at, step) => rgbRow(raw, src, w, stored.channels, out, at, step) };
  let line = new Uint8Array(0);
  return {
    channels: 3,
    row(raw, src, w, out, at, step) {
      if (line.length < w * stored.channels) line = new Uint8Array(header.width * stored.channels);
      stored.row(raw, src, w, line, 0, 1);
      rgbRow(line, 0, w, stored.channels, out, at, step);
    },
  };
}

/** Writes pixels in their own channels; `direct` when the stored row already is the 8-bit pixels. */
export function storedWriter(header: PngHeader, ancillary: Ancillary): RowWriter & { direct: boolean } {
  const { bitDepth: depth, colorType } = header;
  const trns = ancillary.transparency;
  const stored = STORED_CHANNELS[colorType]!;
  if (colorType === 3) return { ...paletteWriter(header, ancillary.palette!, trns), direct: false };
  // Grey or RGB with one transparent colour (tRNS): an alpha channel, 0 where the stored samples match it.
  const key = trns && (colorType === 0 || colorType === 2) ? transparentKey(trns, colorType) : undefined;
  const channels = (stored + (key ? 1 : 0)) as 1 | 2 | 3 | 4;
  const direct = depth === 8 && !key;
  const sample = sampleReader(depth);
  const to8 = (v: number) => (depth === 16 ? v >> 8 : depth === 8 ? v : (v * 255) / ((1 << depth) - 1));
  return {
    channels,
    direct,
    row(raw, src, w, out, at, step) {
      if (direct && step === 1) return void out.set(raw.subarray(src, src + w * stored), at * stored);
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

function paletteWriter(header: PngHeader, palette: Uint8Array, trns: Uint8Array | undefined): RowWriter {
  const entries = Math.floor(palette.length / 3);
  const sample = sampleReader(header.bitDepth);
  const channels = trns === undefined ? 3 : 4;
  return {
    channels,
    row(raw, src, w, out, at, step) {
      for (let x = 0; x < w; x++) {
        const index = sample(raw, src, x);
        if (index >= entries) throw new PngDecodeError(`palette index ${index} of ${entries}`);
        const o = (at + x * step) * channels;
        out[o] = palette[3 * index]!;
        out[o + 1] = palette[3 * index + 1]!;
        out[o + 2] = palette[3 * index + 2]!;
        if (trns) out[o + 3] = index < trns.length ? trns[index]! : 255;
      }
    },
  };
}

/** The i-th sample of a row: 1/2/4-bit unpacked, 16-bit as its full value. */
function sampleReader(depth: number): (raw: Uint8Array, src: number, i: number) => number {
  if (depth === 8) return (raw, src, i) => raw[src + i]!;
  if (depth === 16) return (raw, src, i) => (raw[src + 2 * i]! << 8) | raw[src + 2 * i + 1]!;
  const mask = (1 << depth) - 1;
  return (raw, src, i) => {
    const bit = i * depth;
    return (raw[src + (bit >> 3)]! >> (8 - depth - (bit & 7))) & mask;
  };
}

function transparentKey(trns: Uint8Array, colorType: number): number[] | undefined {
  const samples = colorType === 0 ? 1 : 3;
  if (trns.length < 2 * samples) return undefined;
  return Array.from({ length: samples }, (_, c) => (trns[2 * c]! << 8) | trns[2 * c + 1]!);
}
