/**
 * Chooses and loads the inference engine for a model directory: ONNX Runtime when the model has an ONNX file and
 * onnxruntime-node works here, TF.js otherwise. Both engines are imported lazily, so a deployment that lacks one
 * (or whose native binary is broken) still starts and says why it fell back.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineOptions, InferenceEngine } from './engine.ts';

export type EngineChoice = 'auto' | 'onnx' | 'tfjs';

export interface LoadEngineOptions extends EngineOptions {
  engine: EngineChoice;
}

export interface LoadedEngine {
  engine: InferenceEngine;
  /** Why `auto` did not use ONNX Runtime; absent when it did (or when an engine was forced). */
  fallbackReason?: string;
}

type Attempt = { engine: InferenceEngine } | { reason: string };

async function tryOnnx(opts: EngineOptions): Promise<Attempt> {
  const { meta, modelDir } = opts;
  if (!meta.onnx && meta.onnxConversionError)
    return { reason: `model ${meta.name} could not be converted to ONNX: ${meta.onnxConversionError}` };
  if (!meta.onnx) return { reason: `model ${meta.name} has no "onnx" entry in metadata.json` };
  const file = join(modelDir, meta.onnx.file);
  try {
    await access(file);
  } catch {
    return { reason: `ONNX model file ${file} does not exist` };
  }
  let OnnxEngine: typeof import('./onnx-engine.ts').OnnxEngine;
  try {
    const mod = await import('./onnx-engine.ts');
    await mod.importOnnxRuntime();
    OnnxEngine = mod.OnnxEngine;
  } catch (err) {
    return { reason: `onnxruntime-node cannot be loaded: ${(err as Error).message}` };
  }
  try {
    return { engine: await OnnxEngine.load(opts) };
  } catch (err) {
    return { reason: `ONNX Runtime cannot load ${file}: ${(err as Error).message}` };
  }
}

async function loadTfjs(opts: EngineOptions): Promise<InferenceEngine> {
  if (!opts.meta.tfjs) throw new Error(`model ${opts.meta.name} has no TF.js model (metadata has no "tfjs" entry)`);
  const { TfjsEngine } = await import('./tfjs-engine.ts');
  return TfjsEngine.load(opts);
}

export async function loadEngine(opts: LoadEngineOptions): Promise<LoadedEngine> {
  const { engine: choice, ...engineOpts } = opts;
  if (choice === 'tfjs') return { engine: await loadTfjs(engineOpts) };
  const onnx = await tryOnnx(engineOpts);
  if ('engine' in onnx) return { engine: onnx.engine };
  if (choice === 'onnx') throw new Error(`engine "onnx" was requested but is not possible: ${onnx.reason}`);
  if (!engineOpts.meta.tfjs)
    throw new Error(
      `no engine can run model ${engineOpts.meta.name}: ${onnx.reason}, and metadata has no "tfjs" entry`,
    );
  return { engine: await loadTfjs(engineOpts), fallbackReason: onnx.reason };
}
