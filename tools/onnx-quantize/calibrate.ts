/**
 * Calibration: runs the float model on the calibration samples with every tensor to be quantized exposed as a
 * graph output, and gathers each tensor's statistics in two passes (its range, then histograms over that range).
 * One sample per run and one intra-op thread, so the statistics do not depend on the machine's thread count.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { importOnnxRuntime } from '../../src/model/onnx-engine.ts';
import { floatValueInfo, type OnnxModel } from './onnx-model.ts';
import { addPatchMoments, type ConvGeometry, emptyMoments, type PatchMoments } from './patch-moments.ts';
import { HISTOGRAM_BINS, type TensorStats, withZero } from './range-methods.ts';

export interface CalibrationInput {
  /** The float model (after exact rewrites) to run. */
  model: OnnxModel;
  inputName: string;
  /** Dimensions of one sample, batch dimension 1 included. */
  sampleDims: number[];
  samples: Float32Array;
  /** Tensors whose statistics are wanted. */
  tensors: readonly string[];
  /** Whether the range methods need histograms (a second pass). */
  histograms: boolean;
  /** Patch moments wanted, by key (a node name): the tensor read and the convolution's geometry. */
  patches?: ReadonlyMap<string, { input: string; geometry: ConvGeometry }>;
}

export interface Calibration {
  stats: Map<string, TensorStats>;
  moments: Map<string, PatchMoments>;
}

async function augmentedSession(model: OnnxModel, tensors: readonly string[]): Promise<InferenceSession> {
  const ort = await importOnnxRuntime();
  const outputs = model.outputs;
  const present = new Set(outputs.map((o) => o.name));
  model.outputs = [...outputs, ...tensors.filter((t) => !present.has(t)).map(floatValueInfo)];
  const bytes = model.encode();
  model.outputs = outputs;
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'basic',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
}

async function forEachSample(
  input: CalibrationInput,
  tensors: readonly string[],
  session: InferenceSession,
  visit: (tensor: string, values: Float32Array, dims: readonly number[]) => void,
): Promise<void> {
  const ort = await importOnnxRuntime();
  const size = input.sampleDims.reduce((a, b) => a * b, 1);
  const count = input.samples.length / size;
  for (let i = 0; i < count; i++) {
    const data = input.samples.slice(i * size, (i + 1) * size);
    const feeds = { [input.inputName]: new ort.Tensor('float32', data, input.sampleDims) };
    const results = await session.run(feeds, [...tensors]);
    for (const name of tensors) {
      const t = results[name];
      if (t?.type !== 'float32') throw new Error(`calibration: tensor ${name} is not a float32 output`);
      visit(name, t.data as Float32Array, t.dims);
      t.dispose();
    }
  }
}

function addHistograms(stats: TensorStats, values: Float32Array): void {
  const { min: lo, max: hi } = withZero(stats);
  const amax = Math.max(-lo, hi);
  if (hi === lo) return;
  const signed = (stats.signed ??= new Float64Array(HISTOGRAM_BINS));
  const magnitude = (stats.magnitude ??= new Float64Array(HISTOGRAM_BINS));
  const last = HISTOGRAM_BINS - 1;
  const sk = HISTOGRAM_BINS / (hi - lo);
  const mk = HISTOGRAM_BINS / amax;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    signed[Math.min(last, Math.floor((v - lo) * sk))]!++;
    magnitude[Math.min(last, Math.floor(Math.abs(v) * mk))]!++;
  }
}

/** Accumulates the mean of each channel (axis 1: NCHW activations, [batch, features] matrices) over the samples. */
function addChannelMeans(stats: TensorStats, values: Float32Array, dims: readonly number[], samples: number): void {
  if (dims.length < 2) return;
  const channels = dims[1]!;
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const means = (stats.channelMeans ??= new Float64Array(channels));
  const outer = values.length / (channels * inner);
  const weight = 1 / (outer * inner * samples);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) sum += values[base + i]!;
      means[c]! += sum * weight;
    }
}

/** Statistics of every requested tensor, and the requested patch moments, over all samples. */
export async function calibrate(input: CalibrationInput): Promise<Calibration> {
  const patches = [...(input.patches ?? new Map())];
  const tensors = [...new Set([...input.tensors, ...patches.map(([, p]) => p.input)])];
  const session = await augmentedSession(input.model, tensors);
  const moments = new Map<string, PatchMoments>();
  const samples = input.samples.length / input.sampleDims.reduce((a, b) => a * b, 1);
  const stats = new Map<string, TensorStats>(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
  try {
    await forEachSample(input, tensors, session, (name, values, dims) => {
      const s = stats.get(name)!;
      let { min, max } = s;
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      s.min = min;
      s.max = max;
      addChannelMeans(s, values, dims, samples);
      for (const [key, p] of patches) {
        if (p.input !== name) continue;
        const m = moments.get(key) ?? emptyMoments(dims[1]!, p.geometry);
        moments.set(key, m);
        addPatchMoments(m, values, dims, p.geometry);
      }
    });
    for (const [name, s] of stats)
      if (!Number.isFinite(s.min) || !Number.isFinite(s.max))
        throw new Error(`calibration: tensor ${name} took non-finite values (${s.min} … ${s.max})`);
    if (input.histograms)
      await forEachSample(input, tensors, session, (name, values) => addHistograms(stats.get(name)!, values));
  } finally {
    await session.release();
  }
  return { stats, moments };
}
