/**
 * The fidelity report: the quantized model against the float model on the same preprocessed samples, as the
 * service would answer (probabilities, softmaxed when the model outputs logits): the largest change of any class
 * probability, and how often the top-1 class stays the same.
 */
import type { InferenceSession } from 'onnxruntime-node';
import type { ModelMetadata } from '../../src/model/metadata.ts';
import { importOnnxRuntime, softmaxRows } from '../../src/model/onnx-engine.ts';

export interface SampleFidelity {
  name: string;
  maxDelta: number;
  floatTop1: string;
  quantTop1: string;
}

export interface FidelityReport {
  samples: SampleFidelity[];
  /** Largest |Δp| over every sample and class. */
  maxDelta: number;
  meanDelta: number;
  /** Share of samples whose top-1 class is unchanged, 0..1. */
  top1Agreement: number;
}

export interface FidelityThresholds {
  maxDelta: number;
  minTop1Agreement: number;
}

/** Runs a model on every sample (batch 1, one thread: deterministic) and returns the probabilities, row-major. */
export async function predict(
  modelBytes: Uint8Array,
  meta: ModelMetadata,
  samples: Float32Array,
): Promise<Float32Array> {
  const ort = await importOnnxRuntime();
  const session: InferenceSession = await ort.InferenceSession.create(modelBytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  try {
    const { height, width, channels, layout } = meta.input;
    const size = height * width * channels;
    const dims = layout === 'NHWC' ? [1, height, width, channels] : [1, channels, height, width];
    const count = samples.length / size;
    const classes = meta.labels.length;
    const out = new Float32Array(count * classes);
    const inputName = meta.onnx?.inputName ?? session.inputNames[0]!;
    const outputName = meta.onnx?.outputName ?? session.outputNames[0]!;
    for (let i = 0; i < count; i++) {
      const input = new ort.Tensor('float32', samples.slice(i * size, (i + 1) * size), dims);
      const result = (await session.run({ [inputName]: input }))[outputName]!;
      const scores = new Float32Array(result.data as Float32Array);
      out.set(meta.output === 'logits' ? softmaxRows(scores, 1) : scores, i * classes);
    }
    return out;
  } finally {
    await session.release();
  }
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

export function compareProbabilities(
  reference: Float32Array,
  candidate: Float32Array,
  labels: readonly string[],
  names: readonly string[],
): FidelityReport {
  const classes = labels.length;
  const samples: SampleFidelity[] = names.map((name, s) => {
    const r = reference.subarray(s * classes, (s + 1) * classes);
    const c = candidate.subarray(s * classes, (s + 1) * classes);
    let maxDelta = 0;
    for (let k = 0; k < classes; k++) maxDelta = Math.max(maxDelta, Math.abs(r[k]! - c[k]!));
    return { name, maxDelta, floatTop1: labels[argmax(r)]!, quantTop1: labels[argmax(c)]! };
  });
  const agree = samples.filter((s) => s.floatTop1 === s.quantTop1).length;
  return {
    samples,
    maxDelta: Math.max(0, ...samples.map((s) => s.maxDelta)),
    meanDelta: samples.reduce((a, s) => a + s.maxDelta, 0) / Math.max(1, samples.length),
    top1Agreement: samples.length > 0 ? agree / samples.length : 1,
  };
}

/** The reasons the report fails the thresholds; empty when it passes. */
export function gateProblems(report: FidelityReport, t: FidelityThresholds): string[] {
  const problems: string[] = [];
  if (report.maxDelta > t.maxDelta)
    problems.push(`max |Δp| ${report.maxDelta.toFixed(4)} is over the limit ${t.maxDelta} (--max-delta)`);
  if (report.top1Agreement < t.minTop1Agreement)
    problems.push(
      `top-1 agreement ${(report.top1Agreement * 100).toFixed(1)}% is under the limit ` +
        `${(t.minTop1Agreement * 100).toFixed(1)}% (--min-top1)`,
    );
  return problems;
}

/** The report as text: one line per sample (worst first), then the totals. */
export function formatReport(report: FidelityReport): string {
  const lines = [...report.samples]
    .sort((a, b) => b.maxDelta - a.maxDelta)
    .map(
      (s) =>
        `  ${s.maxDelta.toFixed(4)}  ${s.floatTop1 === s.quantTop1 ? 'same top-1' : `top-1 ${s.floatTop1} → ${s.quantTop1}`}  ${s.name}`,
    );
  return [
    '  max |Δp|  top-1       sample',
    ...lines,
    `max |Δp| ${report.maxDelta.toFixed(4)}, mean of per-sample max ${report.meanDelta.toFixed(4)}, ` +
      `top-1 agreement ${(report.top1Agreement * 100).toFixed(1)}% over ${report.samples.length} samples`,
  ].join('\n');
}
