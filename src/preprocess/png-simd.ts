/**
 * Paeth and Average unfiltering of 3- and 4-byte pixels in WebAssembly SIMD: one pixel's bytes per vector, so a
 * row's serial chain runs once per pixel instead of once per byte (2.5× the JavaScript loops on photos). The module,
 * about 400 bytes, is assembled here from the instructions below when first used, so the repository keeps no binary.
 * Rows pass through three fixed slots of its memory (source, row above, output): 2 pages, never grown.
 */

/** Rows longer than this many bytes (over 10,922 RGB pixels) stay with the JavaScript loops. */
export const SIMD_MAX_ROW = 32 * 1024;
/** Slots in the module's memory; each has room for the 4-byte store that overruns a 3-byte pixel's row. */
const SRC = 0;
const UP = SIMD_MAX_ROW + 16;
const OUT = 2 * (SIMD_MAX_ROW + 16);
const PAGES = 2;

export type SimdFilter = 'paeth' | 'average';
type Kernel = (src: number, out: number, up: number, rb: number) => void;

interface Simd {
  memory: Uint8Array;
  kernels: Record<`${SimdFilter}${3 | 4}`, Kernel>;
}

let simd: Simd | null | undefined;

/**
 * Unfilters one row with a SIMD kernel (row above at `out[p]`); false when this Node has no WebAssembly SIMD or the
 * row is too long, and the caller's JavaScript loop does it.
 */
export function unfilterSimd(
  filter: SimdFilter,
  src: Uint8Array,
  s: number,
  out: Uint8Array,
  o: number,
  p: number,
  rb: number,
  bpp: 3 | 4,
): boolean {
  if (rb > SIMD_MAX_ROW) return false;
  simd ??= instantiate();
  if (!simd) return false;
  const { memory, kernels } = simd;
  memory.set(src.subarray(s, s + rb), SRC);
  memory.set(out.subarray(p, p + rb), UP);
  kernels[`${filter}${bpp}`](SRC, OUT, UP, rb);
  out.set(memory.subarray(OUT, OUT + rb), o);
  return true;
}

function instantiate(): Simd | null {
  const bytes = assemble();
  // Node started with --jitless has no WebAssembly at all; a CPU without SIMD fails validation.
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const kernels = Object.fromEntries(KERNELS.map(([name]) => [name, exports[name] as Kernel]));
  return { memory: new Uint8Array((exports.memory as WebAssembly.Memory).buffer), kernels } as Simd;
}

// Parameters and locals of every kernel, by index.
const P_SRC = 0;
const P_OUT = 1;
const P_UP = 2;
const P_RB = 3;
const I = 4;
const [MASK, A, B, C, X, PA, PB, PC, D, E, T] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] as const;
const LOCALS = [
  [1, 0x7f], // i: i32
  [11, 0x7b], // MASK … T: v128
] as const;

const op = {
  get: (i: number) => [0x20, i],
  set: (i: number) => [0x21, i],
  tee: (i: number) => [0x22, i],
  i32: (v: number) => [0x41, ...leb(v)],
  i32Add: [0x6a],
  i32LtU: [0x49],
  simd: (code: number, ...immediates: number[]) => [0xfd, ...leb(code), ...immediates],
};
const v = {
  /** Loads 4 bytes at `address` into the low lanes, widened to 16 bits. */
  load: (address: number[]) => [...address, ...op.simd(0x5c, 2, 0), ...op.simd(0x89)],
  splat16: op.simd(0x10),
  narrowU8: op.simd(0x66),
  store4: op.simd(0x5a, 2, 0, 0),
  and: op.simd(0x4e),
  bitselect: op.simd(0x52),
  ltS: op.simd(0x2f),
  abs: op.simd(0x80),
  shrU: op.simd(0x8d),
  add: op.simd(0x8e),
  sub: op.simd(0x91),
  minS: op.simd(0x96),
};
const at = (base: number) => [...op.get(base), ...op.get(I), ...op.i32Add];

/** A row loop over pixels of `bpp` bytes: `step` computes the new left pixel A from X (this pixel's filtered bytes). */
function rowLoop(bpp: number, step: number[]): number[] {
  return [
    ...op.i32(0xff),
    ...v.splat16,
    ...op.set(MASK),
    0x03, // loop, no result
    0x40,
    ...v.load(at(P_UP)),
    ...op.set(B),
    ...v.load(at(P_SRC)),
    ...op.set(X),
    ...step,
    ...at(P_OUT),
    ...op.get(A),
    ...op.get(A),
    ...v.narrowU8,
    ...v.store4,
    ...op.get(B),
    ...op.set(C),
    ...op.get(I),
    ...op.i32(bpp),
    ...op.i32Add,
    ...op.tee(I),
    ...op.get(P_RB),
    ...op.i32LtU,
    0x0d, // br_if to the loop
    0,
    0x0b, // end of loop
  ];
}

/** A = (X + ((A + B) >> 1)) & 0xff */
const AVERAGE = [
  ...op.get(X),
  ...op.get(A),
  ...op.get(B),
  ...v.add,
  ...op.i32(1),
  ...v.shrU,
  ...v.add,
  ...op.get(MASK),
  ...v.and,
  ...op.set(A),
];

/** A = (X + Paeth(A, B, C)) & 0xff, choosing as libpng does: B if |A − C| < |B − C|, then C if |A + B − 2C| is less. */
const PAETH = [
  ...[...op.get(B), ...op.get(C), ...v.sub, ...op.tee(D), ...v.abs, ...op.set(PA)],
  ...[...op.get(A), ...op.get(C), ...v.sub, ...op.tee(E), ...v.abs, ...op.set(PB)],
  ...[...op.get(D), ...op.get(E), ...v.add, ...v.abs, ...op.set(PC)],
  ...[...op.get(B), ...op.get(A), ...op.get(PB), ...op.get(PA), ...v.ltS, ...v.bitselect, ...op.set(T)],
  ...[...op.get(C), ...op.get(T), ...op.get(PC), ...op.get(PA), ...op.get(PB), ...v.minS, ...v.ltS, ...v.bitselect],
  ...[...op.get(X), ...v.add, ...op.get(MASK), ...v.and, ...op.set(A)],
];

const KERNELS = [
  ['paeth3', rowLoop(3, PAETH)],
  ['paeth4', rowLoop(4, PAETH)],
  ['average3', rowLoop(3, AVERAGE)],
  ['average4', rowLoop(4, AVERAGE)],
] as const;

/** The module: one function type (i32 × 4) → (), the kernels, a memory of PAGES pages, all exported. */
function assemble(): Uint8Array<ArrayBuffer> {
  const name = (s: string) => vec([...Buffer.from(s)]);
  const body = (code: number[]) => {
    const locals = vecOf(LOCALS.map(([count, type]) => [...leb(count), type]));
    return vec([...locals, ...code, 0x0b]);
  };
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vecOf([[0x60, ...vec([0x7f, 0x7f, 0x7f, 0x7f], 4), 0x00]])),
    ...section(3, vecOf(KERNELS.map(() => [0x00]))),
    ...section(5, vecOf([[0x00, ...leb(PAGES)]])),
    ...section(
      7,
      vecOf([[...name('memory'), 0x02, 0x00], ...KERNELS.map(([kernel], i) => [...name(kernel), 0x00, ...leb(i)])]),
    ),
    ...section(10, vecOf(KERNELS.map(([, code]) => body(code)))),
  ]);
}

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

/** A vector of items already encoded: their count, then their bytes. */
function vecOf(items: number[][]): number[] {
  return [...leb(items.length), ...items.flat()];
}

/** Bytes prefixed by their length, or by `count` when they are `count` items. */
function vec(bytes: number[], count = bytes.length): number[] {
  return [...leb(count), ...bytes];
}

/** Unsigned LEB128; i32.const's signed form is the same bytes for the constants here (1, 3, 4, 255). */
function leb(value: number): number[] {
  const out: number[] = [];
  do {
    const low = value & 0x7f;
    value >>>= 7;
    out.push(value === 0 ? low : low | 0x80);
  } while (value !== 0);
  return out;
}
