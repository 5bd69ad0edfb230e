/**
 * Exports nsfwjs's two other bundled models into the model repository, beside the default model, without any
 * download: `inception_v3` (a layers model, 299×299; setup then converts it to ONNX) and `mobilenet_v2_mid` (a
 * graph model, 224×224, served on the TF.js engine: the converter covers layers models only).
 *
 *   node --import tsx scripts/export-nsfwjs-models.ts [<repository>]      (default: models)
 */
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ModelMetadata } from '../src/model/metadata.ts';

const require = createRequire(import.meta.url);

interface WeightsGroup {
  paths: string[];
  weights: unknown[];
}
type ModelJson = Record<string, unknown> & { weightsManifest: WeightsGroup[] };

const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
// nsfwjs's infer() for every model: decoded RGB / 255, tf.image.resizeBilinear(alignCorners = true), no crop.
const PREPROCESSING: ModelMetadata['preprocessing'] = {
  channelOrder: 'RGB',
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  resize: { method: 'bilinear', alignCorners: true, halfPixelCenters: false, fit: 'fill' },
};

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

function nsfwjsModelsDir(): string {
  let dir = dirname(require.resolve('nsfwjs'));
  while (!existsSync(join(dir, 'package.json')) || basename(dir) !== 'nsfwjs') {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the nsfwjs package root');
    dir = up;
  }
  return join(dir, 'dist', 'models');
}

/** Writes model.json + .bin shards from nsfwjs's .min.js modules (base64 shards, not in its exports map). */
async function exportModelFiles(srcDir: string, outDir: string): Promise<void> {
  const modelJson = require(join(srcDir, 'model.min.js')) as ModelJson;
  await mkdir(outDir, { recursive: true });
  const manifest: WeightsGroup[] = [];
  for (const group of modelJson.weightsManifest) {
    const paths: string[] = [];
    for (const shard of group.paths) {
      const base64 = require(join(srcDir, `${shard}.min.js`)) as string;
      await writeFile(join(outDir, `${shard}.bin`), Buffer.from(base64, 'base64'));
      paths.push(`${shard}.bin`);
    }
    manifest.push({ ...group, paths });
  }
  await writeFile(join(outDir, 'model.json'), JSON.stringify({ ...modelJson, weightsManifest: manifest }));
}

export async function exportNsfwjsModels(repository: string): Promise<string[]> {
  const root = nsfwjsModelsDir();
  const written: string[] = [];
  for (const m of NSFWJS_EXTRA_MODELS) {
    const outDir = join(repository, m.name);
    await exportModelFiles(join(root, m.source), outDir);
    const meta: ModelMetadata = {
      name: m.title,
      labels: LABELS,
      input: { height: m.size, width: m.size, channels: 3, layout: 'NHWC' },
      preprocessing: PREPROCESSING,
      output: 'probabilities',
      tfjs: { modelJson: 'model.json', format: m.format },
    };
    await writeFile(join(outDir, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
    written.push(outDir);
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dirs = await exportNsfwjsModels(resolve(process.argv[2] ?? 'models'));
  console.log(`exported nsfwjs models to ${dirs.join(', ')}`);
}
