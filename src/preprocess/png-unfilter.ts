/**
 * Undoes PNG scanline filters (PNG spec §9) one row at a time, from the inflated data into the output, which may be
 * the same buffer at the same offset (in place). The hot cases of photos, Paeth and Average on 3- and 4-byte pixels,
 * have their own loops that keep the left and upper-left pixels in locals and choose the Paeth predictor without
 * branches: the branchy form cost about twice as much on photos, whose choices a CPU cannot predict.
 */

/** The row above, as an offset into `out`; the first row has none (its bytes count as zero). */
export const NO_ROW_ABOVE = -1;

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
  } else if (filter === 1 || (filter === 4 && p < 0)) sub(src, s, out, o, rb, bpp);
  else if (filter === 2) up(src, s, out, o, p, rb);
  else if (filter === 3 && p < 0) averageFirstRow(src, s, out, o, rb, bpp);
  else if (filter === 3) (bpp === 3 ? average3 : bpp === 4 ? average4 : average)(src, s, out, o, p, rb, bpp);
  else if (filter === 4) (bpp === 3 ? paeth3 : bpp === 4 ? paeth4 : paeth)(src, s, out, o, p, rb, bpp);
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

/** Average on RGB: the left pixel's three bytes stay in locals instead of being read back. */
function average3(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number): void {
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < rb; i += 3) {
    r = (src[s + i]! + ((r + out[p + i]!) >> 1)) & 0xff;
    g = (src[s + i + 1]! + ((g + out[p + i + 1]!) >> 1)) & 0xff;
    b = (src[s + i + 2]! + ((b + out[p + i + 2]!) >> 1)) & 0xff;
    out[o + i] = r;
    out[o + i + 1] = g;
    out[o + i + 2] = b;
  }
}

/** Average on RGBA (and grey + alpha at 16 bits). */
function average4(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number): void {
  let x0 = 0;
  let x1 = 0;
  let x2 = 0;
  let x3 = 0;
  for (let i = 0; i < rb; i += 4) {
    out[o + i] = x0 = (src[s + i]! + ((x0 + out[p + i]!) >> 1)) & 0xff;
    out[o + i + 1] = x1 = (src[s + i + 1]! + ((x1 + out[p + i + 1]!) >> 1)) & 0xff;
    out[o + i + 2] = x2 = (src[s + i + 2]! + ((x2 + out[p + i + 2]!) >> 1)) & 0xff;
    out[o + i + 3] = x3 = (src[s + i + 3]! + ((x3 + out[p + i + 3]!) >> 1)) & 0xff;
  }
}

function paeth(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number, bpp: number): void {
  for (let i = 0; i < bpp; i++) out[o + i] = (src[s + i]! + out[p + i]!) & 0xff;
  for (let i = bpp; i < rb; i++) {
    out[o + i] = (src[s + i]! + paethPredictor(out[o + i - bpp]!, out[p + i]!, out[p + i - bpp]!)) & 0xff;
  }
}

/** Paeth on RGB: left (a) and upper-left (c) bytes carried in locals; only the row above is read. */
function paeth3(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number): void {
  let ar = 0;
  let ag = 0;
  let ab = 0;
  let cr = 0;
  let cg = 0;
  let cb = 0;
  for (let i = 0; i < rb; i += 3) {
    const br = out[p + i]!;
    const bg = out[p + i + 1]!;
    const bb = out[p + i + 2]!;
    out[o + i] = ar = (src[s + i]! + paethPredictor(ar, br, cr)) & 0xff;
    out[o + i + 1] = ag = (src[s + i + 1]! + paethPredictor(ag, bg, cg)) & 0xff;
    out[o + i + 2] = ab = (src[s + i + 2]! + paethPredictor(ab, bb, cb)) & 0xff;
    cr = br;
    cg = bg;
    cb = bb;
  }
}

/** Paeth on RGBA (and grey + alpha at 16 bits), as paeth3 with a fourth byte. */
function paeth4(src: Uint8Array, s: number, out: Uint8Array, o: number, p: number, rb: number): void {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  for (let i = 0; i < rb; i += 4) {
    const b0 = out[p + i]!;
    const b1 = out[p + i + 1]!;
    const b2 = out[p + i + 2]!;
    const b3 = out[p + i + 3]!;
    out[o + i] = a0 = (src[s + i]! + paethPredictor(a0, b0, c0)) & 0xff;
    out[o + i + 1] = a1 = (src[s + i + 1]! + paethPredictor(a1, b1, c1)) & 0xff;
    out[o + i + 2] = a2 = (src[s + i + 2]! + paethPredictor(a2, b2, c2)) & 0xff;
    out[o + i + 3] = a3 = (src[s + i + 3]! + paethPredictor(a3, b3, c3)) & 0xff;
    c0 = b0;
    c1 = b1;
    c2 = b2;
    c3 = b3;
  }
}
