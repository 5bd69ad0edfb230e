/**
 * Exports nsfwjs's bundled MobileNetV2 (a pretrained 5-class image classifier shipped inside the npm package) into a
 * plain TF.js model directory: model.json + weight shard + metadata.json. Nothing is downloaded.
 *
 *   npm run model:export [-- <out-dir>]      (default: models/default)
 */
import { join, resolve } from 'node:path';
import { exportModelFiles, nsfwjsModelsDir, writeNsfwjsMetadata } from './lib/nsfwjs-models.ts';
import { exitIfStaleBuild } from '../src/build/stamp.ts';

export async function exportDefaultModel(outDir: string): Promise<void> {
  await exportModelFiles(join(nsfwjsModelsDir(), 'mobilenet_v2'), outDir, {
    format: 'layers-model',
    generatedBy: 'nsfwjs 4.x (exported)',
  });
  await writeNsfwjsMetadata(outDir, { title: 'nsfwjs-mobilenet-v2', size: 224, format: 'layers' });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  exitIfStaleBuild('model:export');
  const out = resolve(process.argv[2] ?? 'models/default');
  await exportDefaultModel(out);
  console.log(`exported nsfwjs MobileNetV2 to ${out}`);
}
