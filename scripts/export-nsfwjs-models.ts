/**
 * Exports nsfwjs's two other bundled models into the model repository, beside the default model, without any
 * download: `inception_v3` (a layers model, 299×299) and `mobilenet_v2_mid` (a graph model, 224×224); `npm run
 * models:examples` then converts both to ONNX.
 *
 *   node dist/scripts/export-nsfwjs-models.js [<repository>]      (default: models; `npm run build` first)
 */
import { join, resolve } from 'node:path';
import { exportModelFiles, nsfwjsModelsDir, writeNsfwjsMetadata } from './lib/nsfwjs-models.ts';
import { exitIfStaleBuild } from '../src/build/stamp.ts';

/** The extra models: nsfwjs directory → repository name, TF.js format and input size. */
export const NSFWJS_EXTRA_MODELS = [
  { source: 'inception_v3', name: 'inception_v3', title: 'nsfwjs-inception-v3', format: 'layers', size: 299 },
  {
    source: 'mobilenet_v2_mid',
    name: 'mobilenet_v2_mid',
    title: 'nsfwjs-mobilenet-v2-mid',
    format: 'graph',
    size: 224,
  },
] as const;

export async function exportNsfwjsModels(repository: string): Promise<string[]> {
  const root = nsfwjsModelsDir();
  const written: string[] = [];
  for (const m of NSFWJS_EXTRA_MODELS) {
    const outDir = join(repository, m.name);
    await exportModelFiles(join(root, m.source), outDir);
    await writeNsfwjsMetadata(outDir, m);
    written.push(outDir);
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  exitIfStaleBuild('export-nsfwjs-models');
  const dirs = await exportNsfwjsModels(resolve(process.argv[2] ?? 'models'));
  console.log(`exported nsfwjs models to ${dirs.join(', ')}`);
}
