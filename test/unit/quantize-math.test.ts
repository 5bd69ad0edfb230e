/**
 * The quantizer's arithmetic (tools/onnx-quantize): uint8 activation parameters, per-channel symmetric int8
 * weights, int32 biases, bias correction, adaptive rounding of small kernels and the range methods.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roundChannel } from '../../tools/onnx-quantize/adaptive-rounding.ts';
import { quantizeBias, quantizePerChannel, uint8Params, weightShift } from '../../tools/onnx-quantize/quant-math.ts';
import {
  entropyRange,
  HISTOGRAM_BINS,
  percentileRange,
  type TensorStats,
  tensorRange,
} from '../../tools/onnx-quantize/range-methods.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
}

/** Statistics of a sample, with both histograms, as the calibration's two passes gather them. */
function statsOf(values: number[]): TensorStats {
  const min = Math.min(0, ...values);
  const max = Math.max(0, ...values);
  const amax = Math.max(-min, max);
  const signed = new Float64Array(HISTOGRAM_BINS);
  const magnitude = new Float64Array(HISTOGRAM_BINS);
  for (const v of values) {
    signed[Math.min(HISTOGRAM_BINS - 1, Math.floor(((v - min) / (max - min)) * HISTOGRAM_BINS))]! += 1;
    magnitude[Math.min(HISTOGRAM_BINS - 1, Math.floor((Math.abs(v) / amax) * HISTOGRAM_BINS))]! += 1;
  }
  return { min: Math.min(...values), max: Math.max(...values), signed, magnitude };
}

describe('quantizer arithmetic', () => {
  it('uint8 parameters hold 0 exactly; a ReLU6 range gets zero point 0 and clamps at 0 and 6', () => {
    const relu6 = uint8Params({ min: 0, max: 6 });
    assert.equal(relu6.zeroPoint, 0);
    assert.ok(Math.abs(relu6.scale * 255 - 6) < 1e-6);
    const signed = uint8Params({ min: -1, max: 3 });
    assert.equal(signed.zeroPoint, Math.round(1 / signed.scale));
    // A range that excludes 0 is widened to hold it.
    const positive = uint8Params({ min: 2, max: 4 });
    assert.equal(positive.zeroPoint, 0);
    assert.ok(Math.abs(positive.scale * 255 - 4) < 1e-6);
  });

  it('per-channel symmetric int8: each channel’s largest |w| maps to ±127, zero point 0', () => {
    // Two output channels of a [2, 1, 1, 3] kernel with very different magnitudes.
    const w = Float32Array.of(0.5, -1, 0.25, 100, -50, 25);
    const q = quantizePerChannel(w, [2, 1, 1, 3], 0);
    assert.deepEqual(Array.from(q.values), [64, -127, 32, 127, -64, 32]);
    assert.ok(Math.abs(q.scales[0]! - 1 / 127) < 1e-9 && Math.abs(q.scales[1]! - 100 / 127) < 1e-6);
    // Columns of a [K, N] matrix (axis 1), and 7-bit weights.
    const m = quantizePerChannel(Float32Array.of(1, 1, -3, 4), [2, 2], 1, 63);
    assert.deepEqual(Array.from(m.values), [21, 16, -63, 63]);
  });

  it('biases become int32 at input scale × weight scale', () => {
    const b = quantizeBias(Float32Array.of(1, -2), 0.5, Float32Array.of(0.01, 0.1));
    assert.deepEqual(Array.from(b.values), [200, -40]);
    assert.deepEqual(
      Array.from(b.scales, (s) => Number(s.toFixed(6))),
      [0.005, 0.05],
    );
  });

  it('bias correction: the output shift of rounded weights is Σ Δw · E[x]', () => {
    const w = Float32Array.of(0.3, 0.7);
    const q = { values: Int8Array.of(1, 1), scales: Float32Array.of(0.5, 0.5) };
    const shift = weightShift(w, q, [2, 1, 1, 1], Float64Array.of(2, 10), { kind: 'conv', group: 2 });
    // Depthwise: channel 0 reads input 0 (mean 2), channel 1 input 1 (mean 10).
    assert.ok(Math.abs(shift[0]! - 0.2 * 2) < 1e-6 && Math.abs(shift[1]! - -0.2 * 10) < 1e-6);
    const matrix = weightShift(Float32Array.of(0.3, 0.7), q, [2, 1], Float64Array.of(2, 10), {
      kind: 'matrix',
      transposed: false,
    });
    assert.ok(Math.abs(matrix[0]! - (0.2 * 2 - 0.2 * 10)) < 1e-6);
  });

  it('adaptive rounding: never a larger output error than rounding to nearest, and nearest under white input', () => {
    const random = rng(7);
    const taps = 9;
    const error = (w: Float32Array, q: Int8Array, scale: number, m: Float64Array) => {
      let e = 0;
      for (let a = 0; a < taps; a++)
        for (let b = 0; b < taps; b++) e += (q[a]! * scale - w[a]!) * m[a * taps + b]! * (q[b]! * scale - w[b]!);
      return e;
    };
    let improved = 0;
    for (let trial = 0; trial < 50; trial++) {
      const w = Float32Array.from({ length: taps }, () => random() * 2 - 1);
      const scale = Math.max(...Array.from(w, Math.abs)) / 127;
      // Moments of correlated patches: M = AᵀA for a random A, plus a mean term.
      const a = Array.from({ length: taps * taps }, () => random() - 0.3);
      const m = new Float64Array(taps * taps);
      for (let i = 0; i < taps; i++)
        for (let j = 0; j < taps; j++)
          for (let k = 0; k < taps; k++) m[i * taps + j]! += a[k * taps + i]! * a[k * taps + j]!;
      const nearest = Int8Array.from(w, (v) => Math.round(v / scale));
      const adaptive = roundChannel(w, scale, m, 127);
      assert.ok(error(w, adaptive, scale, m) <= error(w, nearest, scale, m) + 1e-12);
      if (error(w, adaptive, scale, m) < error(w, nearest, scale, m) - 1e-12) improved++;
      for (let k = 0; k < taps; k++)
        assert.ok(Math.abs(adaptive[k]! - w[k]! / scale) <= 1 + 1e-9, 'rounds down or up only');
    }
    assert.ok(improved > 25, `adaptive rounding improved ${improved} of 50 channels`);
    const identity = new Float64Array(taps * taps);
    for (let k = 0; k < taps; k++) identity[k * taps + k] = 1;
    const w = Float32Array.from({ length: taps }, () => random() - 0.5);
    const scale = 0.5 / 127;
    assert.deepEqual(
      Array.from(roundChannel(w, scale, identity, 127)),
      Array.from(w, (v) => Math.round(v / scale)),
    );
  });

  it('range methods: minmax keeps everything, percentile and entropy clip a long tail', () => {
    const random = rng(3);
    // A ReLU-like activation: half zeros, an exponential tail, one far outlier.
    const values = Array.from({ length: 20_000 }, () => (random() < 0.5 ? 0 : -Math.log(1 - random())));
    values.push(40);
    const stats = statsOf(values);
    assert.deepEqual(tensorRange(stats, { method: 'minmax', percentile: 99.99 }), { min: 0, max: 40 });
    const pct = percentileRange(stats, 99.9);
    assert.equal(pct.min, 0);
    assert.ok(pct.max > 5 && pct.max < 12, `percentile 99.9 of Exp(1) tail: ${pct.max}`);
    const entropy = entropyRange(stats);
    assert.equal(entropy.min, 0);
    assert.ok(entropy.max > 0 && entropy.max < 40, `entropy clips the outlier: ${entropy.max}`);
    // A two-sided tensor keeps both sides and 0.
    const twoSided = percentileRange(statsOf(Array.from({ length: 5000 }, () => random() * 4 - 1)), 100);
    assert.ok(twoSided.min < -0.99 && twoSided.max > 2.99);
  });
});
