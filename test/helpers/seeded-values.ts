/** Deterministic uniform [lo, hi) values (mulberry32), so failures reproduce. */
export function seededValues(count: number, seed: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Deterministic bytes, from the same generator. */
export function seededBytes(seed: number, count: number): Uint8Array {
  return Uint8Array.from(seededValues(count, seed, 0, 256), (v) => Math.floor(v));
}
