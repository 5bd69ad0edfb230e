/**
 * Resizes packed 8-bit RGB pixels (read through a PixelView, so EXIF orientation and crops cost nothing) straight
 * into a float32 batch slot, normalising on the way: one pass, no intermediate image.
 *   bilinear — tf.image.resizeBilinear's arithmetic exactly (alignCorners / halfPixelCenters: TF and PyTorch's
 *              conventions); area — exact box averaging over the covered source area (TF resize_area, OpenCV
 *              INTER_AREA).
 */
import type { PixelView } from './orientation.ts';

export interface SlotFormat {
  width: number;
  height: number;
  layout: 'NHWC' | 'NCHW';
  /** For output channel c: value = rgb[order[c]] * mul[c] + add[c]. */
  order: readonly [number, number, number];
  mul: readonly [number, number, number];
  add: readonly [number, number, number];
}

export interface BilinearRule {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** Writes one channel-triplet per output pixel; `o` is the NHWC pixel index. */
function slotWriter(out: Float32Array, offset: number, f: SlotFormat) {
  const plane = f.width * f.height;
  const nhwc = f.layout === 'NHWC';
  const [m0, m1, m2] = f.mul;
  const [a0, a1, a2] = f.add;
  return (p: number, v0: number, v1: number, v2: number) => {
    if (nhwc) {
      const o = offset + p * 3;
      out[o] = v0 * m0 + a0;
      out[o + 1] = v1 * m1 + a1;
      out[o + 2] = v2 * m2 + a2;
    } else {
      out[offset + p] = v0 * m0 + a0;
      out[offset + plane + p] = v1 * m1 + a1;
      out[offset + 2 * plane + p] = v2 * m2 + a2;
    }
  };
}

/** Per output index along one axis: the two source indices and the fraction between them (TF's formula). */
function bilinearAxis(inSize: number, outSize: number, rule: BilinearRule) {
  const align = rule.alignCorners && outSize > 1;
  const ratio = (align ? inSize - 1 : inSize) / (align ? outSize - 1 : outSize);
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  for (let i = 0; i < outSize; i++) {
    const f = rule.halfPixelCenters ? ratio * (i + 0.5) - 0.5 : ratio * i;
    const floor = Math.max(0, Math.floor(f));
    lo[i] = Math.min(floor, inSize - 1);
    hi[i] = Math.min(inSize - 1, Math.ceil(f));
    frac[i] = f - floor;
  }
  return { lo, hi, frac };
}

/** `rgb` holds 3 bytes per pixel, or 4 (RGBA from an opaque decode: alpha is ignored) when pixelBytes is 4. */
export function resizeBilinear(
  rgb: Uint8Array,
  view: PixelView,
  rule: BilinearRule,
  out: Float32Array,
  offset: number,
  f: SlotFormat,
  pixelBytes = 3,
): void {
  const xs = bilinearAxis(view.width, f.width, rule);
  const ys = bilinearAxis(view.height, f.height, rule);
  const colLo = new Int32Array(f.width);
  const colHi = new Int32Array(f.width);
  for (let x = 0; x < f.width; x++) {
    colLo[x] = xs.lo[x]! * view.xStride * pixelBytes;
    colHi[x] = xs.hi[x]! * view.xStride * pixelBytes;
  }
  const [s0, s1, s2] = f.order;
  const write = slotWriter(out, offset, f);
  for (let y = 0; y < f.height; y++) {
    const top = (view.origin + ys.lo[y]! * view.yStride) * pixelBytes;
    const bottom = (view.origin + ys.hi[y]! * view.yStride) * pixelBytes;
    const fy = ys.frac[y]!;
    for (let x = 0; x < f.width; x++) {
      const fx = xs.frac[x]!;
      const a = top + colLo[x]!;
      const b = top + colHi[x]!;
      const c = bottom + colLo[x]!;
      const d = bottom + colHi[x]!;
      let t = rgb[a + s0]! + (rgb[b + s0]! - rgb[a + s0]!) * fx;
      let u = rgb[c + s0]! + (rgb[d + s0]! - rgb[c + s0]!) * fx;
      const v0 = t + (u - t) * fy;
      t = rgb[a + s1]! + (rgb[b + s1]! - rgb[a + s1]!) * fx;
      u = rgb[c + s1]! + (rgb[d + s1]! - rgb[c + s1]!) * fx;
      const v1 = t + (u - t) * fy;
      t = rgb[a + s2]! + (rgb[b + s2]! - rgb[a + s2]!) * fx;
      u = rgb[c + s2]! + (rgb[d + s2]! - rgb[c + s2]!) * fx;
      const v2 = t + (u - t) * fy;
      write(y * f.width + x, v0, v1, v2);
    }
  }
}

/** Per output index: the source indices it covers and their weights (overlap / window), summing to 1. */
function areaAxis(inSize: number, outSize: number) {
  const scale = inSize / outSize;
  const starts = new Int32Array(outSize + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < outSize; i++) {
    starts[i] = index.length;
    const from = i * scale;
    const to = (i + 1) * scale;
    for (let j = Math.floor(from); j < Math.min(inSize, Math.ceil(to)); j++) {
      const overlap = Math.min(to, j + 1) - Math.max(from, j);
      if (overlap <= 0) continue;
      index.push(j);
      weight.push(overlap / scale);
    }
  }
  starts[outSize] = index.length;
  return { starts, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

export function resizeArea(
  rgb: Uint8Array,
  view: PixelView,
  out: Float32Array,
  offset: number,
  f: SlotFormat,
  pixelBytes = 3,
): void {
  const xs = areaAxis(view.width, f.width);
  const ys = areaAxis(view.height, f.height);
  const [s0, s1, s2] = f.order;
  const write = slotWriter(out, offset, f);
  // Horizontal pass over each source row an output row needs, then the vertical sum.
  const acc = new Float64Array(f.width * 3);
  for (let y = 0; y < f.height; y++) {
    acc.fill(0);
    for (let k = ys.starts[y]!; k < ys.starts[y + 1]!; k++) {
      const base = view.origin + ys.index[k]! * view.yStride;
      const wy = ys.weight[k]!;
      for (let x = 0; x < f.width; x++) {
        let r0 = 0,
          r1 = 0,
          r2 = 0;
        for (let j = xs.starts[x]!; j < xs.starts[x + 1]!; j++) {
          const i = (base + xs.index[j]! * view.xStride) * pixelBytes;
          const w = xs.weight[j]!;
          r0 += rgb[i + s0]! * w;
          r1 += rgb[i + s1]! * w;
          r2 += rgb[i + s2]! * w;
        }
        acc[x * 3] = acc[x * 3]! + r0 * wy;
        acc[x * 3 + 1] = acc[x * 3 + 1]! + r1 * wy;
        acc[x * 3 + 2] = acc[x * 3 + 2]! + r2 * wy;
      }
    }
    for (let x = 0; x < f.width; x++) write(y * f.width + x, acc[x * 3]!, acc[x * 3 + 1]!, acc[x * 3 + 2]!);
  }
}
