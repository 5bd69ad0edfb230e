/**
 * TF.js engine: tfjs-node when it is installed, otherwise the wasm backend (one thread), otherwise cpu.
 * Loads layers and graph models alike from a model directory, without any network access.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';
import '@tensorflow/tfjs-backend-cpu';
import type { EngineOptions, InferenceEngine, EngineInfo } from './engine.ts';
import type { ModelMetadata } from './metadata.ts';
import { readTfjsModelDir } from './tfjs-model-files.ts';

const require = createRequire(import.meta.url);

/** Picks the fastest backend that initialises here, or the one TFJS_BACKEND forces. */
async function selectBackend(forced?: string): Promise<string> {
  const candidates = forced ? [forced] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of candidates) {
    try {
      if (name === 'tensorflow') {
        await import('@tensorflow/tfjs-node' as string); // registers the backend when the package exists
      } else if (name === 'wasm') {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        // In Node the .wasm files are read from the package directory, never fetched.
        wasm.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/');
      }
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
    } catch (err) {
      if (forced) throw new Error(`TFJS_BACKEND=${forced} failed to initialise: ${(err as Error).message}`);
    }
  }
  throw new Error(`no TF.js backend initialised (tried ${candidates.join(', ')})`);
}

type Predictor = { predict(x: tf.Tensor): tf.Tensor | tf.Tensor[] };

export class TfjsEngine implements InferenceEngine {
  private constructor(
    readonly info: EngineInfo,
    private readonly model: Predictor & { dispose?: () => void },
    private readonly meta: ModelMetadata,
  ) {}

  static async load(opts: EngineOptions): Promise<TfjsEngine> {
    const { meta, modelDir } = opts;
    if (!meta.tfjs) throw new Error(`model ${meta.name} has no TF.js model (metadata has no "tfjs" entry)`);
    const backend = await selectBackend(opts.tfjsBackend || undefined);
    const handler = await readTfjsModelDir(modelDir, meta.tfjs.modelJson);
    const model =
      meta.tfjs.format === 'layers' ? await tfl.loadLayersModel(handler) : await tfc.loadGraphModel(handler);
    return new TfjsEngine({ engine: 'tfjs', backend, format: meta.tfjs.format }, model as Predictor, meta);
  }

  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    const { height, width, channels, layout } = this.meta.input;
    const shape: [number, number, number, number] =
      layout === 'NHWC' ? [n, height, width, channels] : [n, channels, height, width];
    const view = batch.subarray(0, n * height * width * channels);
    const scores = tf.tidy(() => {
      const out = this.model.predict(tf.tensor4d(view, shape));
      const logits = (Array.isArray(out) ? out[0] : out) as tf.Tensor;
      return this.meta.output === 'logits' ? tf.softmax(logits) : logits;
    });
    try {
      return (await scores.data()) as Float32Array;
    } finally {
      scores.dispose();
    }
  }

  liveTensors(): number {
    return tf.memory().numTensors;
  }

  async dispose(): Promise<void> {
    this.model.dispose?.();
  }
}
