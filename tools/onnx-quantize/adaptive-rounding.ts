/**
 * Adaptive rounding of small kernels (after AdaRound, Nagel et al. 2020, solved exactly where it is small): each
 * weight of a channel is rounded down or up, whichever combination gives the channel's output the least mean
 * square error Δwᵀ M Δw under the calibrated patch moments M, instead of each weight to its nearest step. A
 * depthwise 3×3 kernel has 2⁹ combinations: all are tried, in Gray-code order so each try costs one update.
 */

/** Largest kernel (taps per channel) rounded exhaustively. */
export const MAX_EXHAUSTIVE_TAPS = 12;

/**
 * Int8 values of one channel's weights at `scale` minimising Δwᵀ M Δw (M: taps × taps, symmetric).
 * Returns nearest rounding when `moments` is degenerate (no signal reached the channel).
 */
export function roundChannel(weights: Float32Array, scale: number, moments: Float64Array, qmax: number): Int8Array {
  const taps = weights.length;
  const low = new Int8Array(taps);
  const canRaise = new Uint8Array(taps);
  const delta = new Float64Array(taps);
  for (let k = 0; k < taps; k++) {
    const v = Math.max(-qmax, Math.min(qmax, Math.floor(weights[k]! / scale)));
    low[k] = v;
    canRaise[k] = v < qmax ? 1 : 0;
    delta[k] = v * scale - weights[k]!;
  }
  // g = M Δ, f = Δᵀ M Δ, kept up to date as bits flip.
  const g = new Float64Array(taps);
  let f = 0;
  for (let a = 0; a < taps; a++) {
    for (let b = 0; b < taps; b++) g[a]! += moments[a * taps + b]! * delta[b]!;
    f += delta[a]! * g[a]!;
  }
  const raised = new Uint8Array(taps);
  let best = f;
  let bestMask = 0;
  let mask = 0;
  for (let step = 1; step < 1 << taps; step++) {
    const k = 31 - Math.clz32(step & -step);
    if (!canRaise[k]) continue;
    const d = raised[k] ? -scale : scale;
    raised[k] = raised[k] ? 0 : 1;
    mask ^= 1 << k;
    f += 2 * d * g[k]! + d * d * moments[k * taps + k]!;
    for (let a = 0; a < taps; a++) g[a]! += d * moments[a * taps + k]!;
    if (f < best - 1e-15 * Math.abs(best)) {
      best = f;
      bestMask = mask;
    }
  }
  const nearest = Int8Array.from(weights, (w) => Math.max(-qmax, Math.min(qmax, Math.round(w / scale))));
  if (!(best >= 0) || moments.every((v) => v === 0)) return nearest;
  return Int8Array.from(low, (v, k) => v + ((bestMask >> k) & 1));
}

/**
 * Re-rounds a depthwise kernel [M, 1, kh, kw] channel by channel under the moments of the input channel each
 * output channel reads (M / channels outputs per input channel).
 */
export function roundDepthwise(
  w: Float32Array,
  dims: readonly number[],
  scales: Float32Array,
  moments: (inputChannel: number) => Float64Array,
  inputChannels: number,
  qmax: number,
): Int8Array {
  const outputs = dims[0]!;
  const taps = w.length / outputs;
  const perInput = outputs / inputChannels;
  const out = new Int8Array(w.length);
  for (let m = 0; m < outputs; m++) {
    const slice = w.subarray(m * taps, (m + 1) * taps);
    out.set(roundChannel(slice, scales[m]!, moments(Math.floor(m / perInput)), qmax), m * taps);
  }
  return out;
}
