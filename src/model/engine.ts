/**
 * The seam between the inference thread and whatever runs the model. An engine is created inside the inference
 * worker, loads one model directory, and turns the first `n` images of a batch view into class scores.
 */
import type { ModelMetadata } from './metadata.ts';

export type EngineName = 'onnx' | 'tfjs';

export interface EngineInfo {
  engine: EngineName;
  /** TF.js backend (wasm, tensorflow, cpu) or ONNX Runtime execution provider (cpu). */
  backend: string;
  /** layers / graph for TF.js, onnx for ONNX Runtime. */
  format: string;
}

export interface InferenceEngine {
  readonly info: EngineInfo;
  /**
   * Runs the model on the first `n` images of `batch` (layout as metadata.input.layout, float32) and returns
   * n × labels.length scores, row-major, already softmaxed when the model outputs logits.
   */
  run(batch: Float32Array, n: number): Promise<Float32Array>;
  /** Live tensor count, for leak checks; engines without tensors of their own return 0. */
  liveTensors(): number;
  dispose(): Promise<void>;
}

export interface EngineOptions {
  modelDir: string;
  meta: ModelMetadata;
  /** Threads the engine may use inside one inference thread (ONNX intra-op threads). */
  intraOpThreads: number;
  /** Force a TF.js backend (TFJS_BACKEND); empty for automatic choice. */
  tfjsBackend?: string;
}
