/**
 * Undoes PNG scanline filters (PNG spec §9) one row at a time, from the inflated data into the output, which may be
 * the same buffer at the same offset (in place). Paeth and Average on 3- and 4-byte pixels, most of a photo's rows,
 * go to WebAssembly SIMD (png-simd.ts); the loops here do the rest, with Paeth's predictor chosen without branches:
 * the branchy form cost 1.8× as much on photos, whose choices a CPU cannot predict.
 */
import { type SimdFilter, unfilterSimd } from './png-simd.ts';

/** The row above, as an offset into `out`; the first row has none (its bytes count as zero). */
export const NO_ROW_ABOVE = -1;

const SIMD_FILTERS: Record<number, SimdFilter> = { 3: 'average', 4: 'paeth' };

/**
 * Unfilters `rb` bytes of `src` at `s` into `out` at `o`, with the row above at `out[p]` (or NO_ROW_ABOVE),
 * `bpp` bytes per complete pixel (1 for samples under 8 bits). Returns false for a filter type that does not exist.
 */
export function unfilterRow(
  filter: number,
  src: Uint8Array,
  s: number,
  out: Uint8Array,
  o: number,
  p: number,
  rb: number,
  bpp: number,
): boolean {
  // With no row above, Up is None, Paeth is Sub (its predictor is always `a`) and Average halves `a` alone.
  if (filter === 0 || (filter === 2 && p < 0)) {
    if (src !== out || s !== o) out.set(src.subarray(s, s + rb), o);
    return true;
  }
  if (filter === 1 || (filter === 4 && p < 0)) sub(src, s, out, o, rb, bpp);
  else if (filter === 2) up(src, s, out, o, p, rb);
  else if (filter === 3 && p < 0) averageFirstRow(src, s, out, o, rb, bpp);
  else if ((bpp === 3 || bpp === 4) && filter in SIMD_FILTERS) {
    if (!unfilterSimd(SIMD_FILTERS[filter]!, src, s, out, o, p, rb, bpp)) {
      (filter === 3 ? average : paeth)(src, s, out, o, p, rb, bpp);
    }
  } else if (filter === 3) average(src, s, out, o, p, rb, bpp);
  else if (filter === 4) paeth(src, s, out, o, p, rb, bpp);
  else return false;
  return true;
}

/**
 * Paeth's predictor (PNG spec §9.4): of a (left), b (up) and c (upper left), the one nearest a + b − c, ties to a,
 * then b. Branch-free: `x >> 31` is −1 for a negative x, and `u ^ ((u ^ v) & m)` picks v where m is −1.
 */
export function paethPredictor(a: number, b: number, c: number): number {
  let pa = b - c;
  let pb = a - c;
  let pc = pa + pb;
  let m = pa >> 31;
  pa = (pa ^ m) - m;
  m = pb >> 31;
  pb = (pb ^ m) - m;
  m = pc >> 31;
  pc = (pc ^ m) - m;
  const notA = ((pb - pa) | (pc - pa)) >> 31;
  const takeC = (pc - pb) >> 31;
  const bOrC = b ^ ((b ^ c) & takeC);
  return a ^ ((a ^ bOrC) & notA);
}

function sub(src: Uint8Array, s: number, out: Uint8Array, o: number, rb: number, bpp: number): void {
  for (let i = 0; i < bpp; i++) out[o + i] = src[s + i]!;
  for (let i = bpp; i < rb; i++) out[o + i] = (src[s + i]! + out[o + i - bpp]!) & 0xff;
}

function up(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number): void {
  for (let i = 0; i < rb; i++) out[o + i] = (src[s + i]! + out[p + i]!) & 0xff;
}

function averageFirstRow(src: Uint8Array, s: number, out: Uint8Array, o: number, rb: number, bpp: number): void {
  for (let i = 0; i < bpp; i++) out[o + i] = src[s + i]!;
  for (let i = bpp; i < rb; i++) out[o + i] = (src[s + i]! + (out[o + i - bpp]! >> 1)) & 0xff;
}

function average(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number, bpp: number): void {
  for (let i = 0; i < bpp; i++) out[o + i] = (src[s + i]! + (out[p + i]! >> 1)) & 0xff;
  for (let i = bpp; i < rb; i++) out[o + i] = (src[s + i]! + ((out[o + i - bpp]! + out[p + i]!) >> 1)) & 0xff;
}

function paeth(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number, bpp: number): void {
  for (let i = 0; i < bpp; i++) out[o + i] = (src[s + i]! + out[p + i]!) & 0xff;
  for (let i = bpp; i < rb; i++) {
    out[o + i] = (src[s + i]! + paethPredictor(out[o + i - bpp]!, out[p + i]!, out[p + i - bpp]!)) & 0xff;
  }
}
