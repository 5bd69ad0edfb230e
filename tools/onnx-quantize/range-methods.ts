/**
 * Activation ranges from calibration statistics, by three methods (as in ONNX Runtime's and TensorRT's
 * calibrators): `minmax` keeps every value seen; `percentile` clips the rarest tails; `entropy` picks the clipping
 * threshold whose uint8 histogram loses the least information (minimal KL divergence). Pure functions.
 */

export const RANGE_METHODS = ['minmax', 'percentile', 'entropy'] as const;
export type RangeMethod = (typeof RANGE_METHODS)[number];

export interface Range {
  min: number;
  max: number;
}

export const HISTOGRAM_BINS = 2048;

/** A tensor's statistics over the calibration samples: its range, and histograms over it (pass two). */
export interface TensorStats {
  min: number;
  max: number;
  /** Counts over [lo, hi] = [min(min, 0), max(max, 0)], HISTOGRAM_BINS bins. */
  signed?: Float64Array;
  /** Counts of |x| over [0, max(-lo, hi)], HISTOGRAM_BINS bins. */
  magnitude?: Float64Array;
  /** Mean of each channel (axis 1), for bias correction. */
  channelMeans?: Float64Array;
}

/** The range widened to hold 0, so that 0 is exactly representable (zero padding, ReLU outputs). */
export function withZero(r: Range): Range {
  return { min: Math.min(r.min, 0), max: Math.max(r.max, 0) };
}

/** The value below which `fraction` of the histogram's mass lies (linear within the bin). */
function quantile(hist: Float64Array, lo: number, hi: number, fraction: number): number {
  let total = 0;
  for (const c of hist) total += c;
  const target = fraction * total;
  const width = (hi - lo) / hist.length;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i]!;
    if (seen + c >= target && c > 0) return lo + width * (i + (target - seen) / c);
    seen += c;
  }
  return hi;
}

export function percentileRange(stats: TensorStats, percentile: number): Range {
  const { min: lo, max: hi } = withZero(stats);
  if (!stats.signed || hi === lo) return { min: lo, max: hi };
  const p = percentile / 100;
  return withZero({ min: quantile(stats.signed, lo, hi, 1 - p), max: quantile(stats.signed, lo, hi, p) });
}

/** KL(P || Q) of two unnormalised distributions over the same bins. */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  if (sp === 0 || sq === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    if (pi === 0) continue;
    const qi = q[i]! / sq;
    kl += qi === 0 ? pi * 1e3 : pi * Math.log(pi / qi);
  }
  return kl;
}

/**
 * The first `end` bins as the reference distribution P (the clipped tail folded into its last bin), and Q: P
 * merged into `levels` quantisation levels and spread back over the non-empty bins of each level.
 */
function klForThreshold(hist: Float64Array, end: number, levels: number, p: Float64Array, q: Float64Array): number {
  p.fill(0, 0, end);
  for (let i = 0; i < end; i++) p[i] = hist[i]!;
  for (let i = end; i < hist.length; i++) p[end - 1]! += hist[i]!;
  const perLevel = end / levels;
  for (let l = 0; l < levels; l++) {
    const start = Math.floor(l * perLevel);
    const stop = l === levels - 1 ? end : Math.floor((l + 1) * perLevel);
    let sum = 0;
    let nonEmpty = 0;
    for (let i = start; i < stop; i++) {
      sum += hist[i]!;
      if (hist[i]! > 0) nonEmpty++;
    }
    for (let i = start; i < stop; i++) q[i] = hist[i]! > 0 ? sum / nonEmpty : 0;
  }
  return klDivergence(p.subarray(0, end), q.subarray(0, end));
}

/**
 * The |x| threshold with minimal KL divergence: one-sided tensors (ReLU outputs) have all 255 uint8 steps for
 * [0, t], two-sided ones half of them per side.
 */
export function entropyRange(stats: TensorStats): Range {
  const { min: lo, max: hi } = withZero(stats);
  const hist = stats.magnitude;
  const amax = Math.max(-lo, hi);
  if (!hist || amax === 0) return { min: lo, max: hi };
  const levels = lo === 0 ? 255 : 128;
  const p = new Float64Array(hist.length);
  const q = new Float64Array(hist.length);
  let best = hist.length;
  let bestKl = Infinity;
  for (let end = levels; end <= hist.length; end++) {
    const kl = klForThreshold(hist, end, levels, p, q);
    if (kl < bestKl) {
      bestKl = kl;
      best = end;
    }
  }
  const t = (best / hist.length) * amax;
  return withZero({ min: Math.max(lo, -t), max: Math.min(hi, t) });
}

export interface RangeOptions {
  method: RangeMethod;
  /** For `percentile`: the share of values kept inside the range, in percent. */
  percentile: number;
}

export function tensorRange(stats: TensorStats, options: RangeOptions): Range {
  if (options.method === 'percentile') return percentileRange(stats, options.percentile);
  if (options.method === 'entropy') return entropyRange(stats);
  return withZero(stats);
}
