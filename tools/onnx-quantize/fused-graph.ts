/**
 * What ONNX Runtime makes of a model: it loads the model with every graph optimisation on, saves the optimised
 * graph (session option optimizedModelFilePath) and counts its operators. QuantizeLinear and DequantizeLinear
 * nodes left in it were not fused: each is a full pass over a tensor.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importOnnxRuntime } from '../../src/model/onnx-engine.ts';
import { OnnxModel } from './onnx-model.ts';

export interface FusedGraph {
  /** Operator counts, keyed `domain:op` for contrib operators (e.g. `com.microsoft:QLinearAdd`). */
  ops: Record<string, number>;
  standaloneQuantize: number;
  standaloneDequantize: number;
}

export async function fusedGraph(modelBytes: Uint8Array): Promise<FusedGraph> {
  const ort = await importOnnxRuntime();
  const dir = await mkdtemp(join(tmpdir(), 'onnx-quantize-'));
  try {
    const file = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(modelBytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      // Warning level would say the saved graph holds layout optimisations for this CPU: known, and only counted.
      logSeverityLevel: 3,
      optimizedModelFilePath: file,
    });
    await session.release();
    const model = OnnxModel.decode(await readFile(file));
    const ops: Record<string, number> = {};
    for (const n of model.nodes) {
      const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType;
      ops[key] = (ops[key] ?? 0) + 1;
    }
    return {
      ops,
      standaloneQuantize: ops.QuantizeLinear ?? 0,
      standaloneDequantize: ops.DequantizeLinear ?? 0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
