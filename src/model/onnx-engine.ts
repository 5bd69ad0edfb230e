/**
 * ONNX Runtime engine (onnxruntime-node, CPU execution provider). One session per engine, fully optimised, with
 * the caller's intra-op thread budget; batches go in as a zero-copy view of the caller's buffer.
 */
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { EngineInfo, EngineOptions, InferenceEngine } from './engine.ts';
import type { ModelMetadata } from './metadata.ts';

type OrtModule = typeof import('onnxruntime-node');

/** Imported on first use so that a missing or broken native binary surfaces as an Error, not a crash at startup. */
export async function importOnnxRuntime(): Promise<OrtModule> {
  const mod = (await import('onnxruntime-node')) as OrtModule & { default?: OrtModule };
  // CJS interop: the named exports may only be reachable through `default`.
  return mod.InferenceSession ? mod : mod.default!;
}

/** Row-wise softmax in place (max-subtracted, so large logits do not overflow). */
export function softmaxRows(scores: Float32Array, rows: number): Float32Array {
  const cols = scores.length / rows;
  for (let r = 0; r < rows; r++) {
    const row = scores.subarray(r * cols, (r + 1) * cols);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (let i = 0; i < cols; i++) sum += row[i] = Math.exp(row[i]! - max);
    for (let i = 0; i < cols; i++) row[i]! /= sum;
  }
  return scores;
}

export class OnnxEngine implements InferenceEngine {
  readonly info: EngineInfo = { engine: 'onnx', backend: 'cpu', format: 'onnx' };
  private staging: Float32Array | undefined;

  private constructor(
    private readonly ort: OrtModule,
    private readonly session: InferenceSession,
    private readonly meta: ModelMetadata,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async load(opts: EngineOptions): Promise<OnnxEngine> {
    const { meta, modelDir } = opts;
    if (!meta.onnx) throw new Error(`model ${meta.name} has no ONNX model (metadata has no "onnx" entry)`);
    const ort = await importOnnxRuntime();
    const session = await ort.InferenceSession.create(join(modelDir, meta.onnx.file), {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      intraOpNumThreads: Math.max(1, opts.intraOpThreads),
      interOpNumThreads: 1,
    });
    const inputName = meta.onnx.inputName ?? session.inputNames[0];
    const outputName = meta.onnx.outputName ?? session.outputNames[0];
    const problem =
      !inputName || !session.inputNames.includes(inputName)
        ? `input "${inputName}" (model has ${session.inputNames.join(', ')})`
        : !outputName || !session.outputNames.includes(outputName)
          ? `output "${outputName}" (model has ${session.outputNames.join(', ')})`
          : undefined;
    if (problem) {
      await session.release();
      throw new Error(`ONNX model ${meta.onnx.file} has no ${problem}`);
    }
    return new OnnxEngine(ort, session, meta, inputName!, outputName!);
  }

  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    const { height, width, channels, layout } = this.meta.input;
    const dims = layout === 'NHWC' ? [n, height, width, channels] : [n, channels, height, width];
    const view = batch.subarray(0, n * height * width * channels);
    // ORT reads an ordinary buffer in place, but refuses a SharedArrayBuffer view ("Invalid argument"): the model
    // host's batch buffers are shared, so those are copied into a staging buffer reused across (sequential) runs.
    let data = view;
    if (view.buffer instanceof SharedArrayBuffer) {
      if (!this.staging || this.staging.length < view.length) this.staging = new Float32Array(batch.length);
      this.staging.set(view);
      data = this.staging.subarray(0, view.length);
    }
    const input: Tensor = new this.ort.Tensor('float32', data, dims);
    const results = await this.session.run({ [this.inputName]: input });
    const output = results[this.outputName];
    if (!output) throw new Error(`the model returned no output named "${this.outputName}"`);
    const scores = output.data as Float32Array;
    return this.meta.output === 'logits' ? softmaxRows(scores, n) : scores;
  }

  liveTensors(): number {
    return 0;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
