/**
 * The arithmetic of quantization: uint8 asymmetric parameters for activations, per-channel symmetric int8 weights
 * (zero point 0, so ONNX Runtime's U8S8 kernels apply), and int32 biases at scale input × weight. Pure functions.
 */
import { type Range, withZero } from './range-methods.ts';

export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** uint8 parameters whose grid covers the range and holds 0 exactly. */
export function uint8Params(range: Range): QParams {
  const { min, max } = withZero(range);
  if (max - min < 1e-30) return { scale: 1, zeroPoint: 0 };
  const scale = (max - min) / 255;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-min / scale)));
  return { scale: Math.fround(scale), zeroPoint };
}

export function quantizeUint8(values: Float32Array, p: QParams): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++)
    out[i] = Math.min(255, Math.max(0, Math.round(values[i]! / p.scale) + p.zeroPoint));
  return out;
}

export interface ChannelQuantized {
  values: Int8Array;
  scales: Float32Array;
}

/**
 * Symmetric int8 per channel along `axis`: each channel's scale maps its largest |w| to `qmax` (127, or 63 for
 * 7-bit weights that cannot saturate the 16-bit sums of AVX2 kernels without VNNI).
 */
export function quantizePerChannel(
  w: Float32Array,
  dims: readonly number[],
  axis: number,
  qmax = 127,
): ChannelQuantized {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const absMax = new Float64Array(channels);
  for (let i = 0; i < w.length; i++) {
    const c = Math.floor(i / inner) % channels;
    absMax[c] = Math.max(absMax[c]!, Math.abs(w[i]!));
  }
  const scales = Float32Array.from(absMax, (m) => (m > 0 ? m / qmax : 1));
  const values = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const c = Math.floor(i / inner) % channels;
    values[i] = Math.min(qmax, Math.max(-qmax, Math.round(w[i]! / scales[c]!)));
  }
  return { values, scales };
}

/** A bias as int32 at scale inputScale × weightScale[c] (zero point 0), as QLinearConv and QGemm take it. */
export function quantizeBias(
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { values: Int32Array; scales: Float32Array } {
  const scales = Float32Array.from(bias, (_, c) => inputScale * weightScales[weightScales.length === 1 ? 0 : c]!);
  const values = Int32Array.from(bias, (b, c) => {
    const q = Math.round(b / scales[c]!);
    return Math.min(2 ** 31 - 1, Math.max(-(2 ** 31), q));
  });
  return { values, scales };
}

/**
 * Bias correction (Nagel et al., "Data-Free Quantization", 2019, with calibration means in place of BatchNorm
 * statistics): the shift that rounding the weights adds to each output channel's mean, E[y'] - E[y] =
 * Σ (w' - w) · E[x], for the caller to subtract from the bias. `inputMeans` holds the mean of each input channel.
 * Conv kernels are [M, C/group, ...]; matrices are [K, N] (`transposed`: [N, K]), with K the input features.
 */
export function weightShift(
  w: Float32Array,
  q: ChannelQuantized,
  dims: readonly number[],
  inputMeans: Float64Array,
  layout: { kind: 'conv'; group: number } | { kind: 'matrix'; transposed: boolean },
): Float64Array {
  if (layout.kind === 'matrix') {
    const [rows, cols] = [dims[0]!, dims[1]!];
    const outputs = layout.transposed ? rows : cols;
    const shift = new Float64Array(outputs);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const [n, k] = layout.transposed ? [r, c] : [c, r];
        shift[n]! += (q.values[i]! * q.scales[n]! - w[i]!) * inputMeans[k]!;
      }
    return shift;
  }
  const outputs = dims[0]!;
  const perGroupIn = dims[1]!;
  const perGroupOut = outputs / layout.group;
  const spatial = dims.slice(2).reduce((a, b) => a * b, 1);
  const shift = new Float64Array(outputs);
  for (let m = 0; m < outputs; m++) {
    const firstInput = Math.floor(m / perGroupOut) * perGroupIn;
    for (let c = 0; c < perGroupIn; c++) {
      const base = (m * perGroupIn + c) * spatial;
      let delta = 0;
      for (let s = 0; s < spatial; s++) delta += q.values[base + s]! * q.scales[m]! - w[base + s]!;
      shift[m]! += delta * inputMeans[firstInput + c]!;
    }
  }
  return shift;
}
