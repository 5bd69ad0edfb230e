/**
 * Converts a TF.js model directory (layers or graph model) to ONNX and records it in the directory's metadata.json.
 *
 *   npm run convert -- <tfjs-model-dir> [out.onnx]
 *
 * Exits 1 with the reason (e.g. `cannot convert layer "foo" (class LSTM): unsupported layer type`, or
 * `cannot convert node "bar" (op Floor): unsupported op`) on failure; metadata.json then records that reason.
 */
import { resolve } from 'node:path';
import { convertTfjsModelDir } from './convert.ts';
import { supportedLayerClasses } from './layers.ts';
import { LayerConversionError } from './types.ts';
import { GraphOpError } from './tfjs-graph/graph-model.ts';
import { supportedOps } from './tfjs-graph/ops.ts';
import { exitIfStaleBuild } from '../../src/build/stamp.ts';

exitIfStaleBuild('convert');

const [modelDir, outFile] = process.argv.slice(2);
if (!modelDir) {
  console.error('usage: npm run convert -- <tfjs-model-dir> [out.onnx]');
  process.exit(1);
}
try {
  const started = performance.now();
  const result = await convertTfjsModelDir(resolve(modelDir), outFile && resolve(outFile));
  const ms = (performance.now() - started).toFixed(0);
  console.log(`wrote ${result.outFile} (input "${result.inputName}", output "${result.outputName}") in ${ms} ms`);
  console.log(
    result.metadataUpdated ? 'metadata.json: onnx entry updated' : 'no metadata.json beside the model: not updated',
  );
} catch (err) {
  console.error(`conversion failed: ${(err as Error).message}`);
  if (err instanceof LayerConversionError)
    console.error(`supported layer classes: ${supportedLayerClasses().join(', ')}`);
  if (err instanceof GraphOpError) console.error(`supported ops: ${supportedOps().join(', ')}`);
  process.exit(1);
}
