/**
 * Reads the models bundled inside the nsfwjs npm package (nothing is downloaded): each is `model.min.js` (a CommonJS
 * module exporting model.json) plus `<shard>.min.js` files (each a base64 weight shard). They are outside the
 * package's `exports` map, so they are required by path. Shared by the default model's export and the extra models'.
 */
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelMetadata } from '../../src/model/metadata.ts';

const require = createRequire(import.meta.url);

interface WeightsGroup {
  paths: string[];
  weights: unknown[];
}
type ModelJson = Record<string, unknown> & { weightsManifest: WeightsGroup[] };

export const NSFWJS_LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

/** nsfwjs's infer() for every model: decoded RGB / 255, tf.image.resizeBilinear(alignCorners = true), no crop. */
export const NSFWJS_PREPROCESSING: ModelMetadata['preprocessing'] = {
  channelOrder: 'RGB',
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  resize: { method: 'bilinear', alignCorners: true, halfPixelCenters: false, fit: 'fill' },
};

/** `dist/models` of the installed nsfwjs package. */
export function nsfwjsModelsDir(): string {
  let dir = dirname(require.resolve('nsfwjs'));
  while (!existsSync(join(dir, 'package.json')) || basename(dir) !== 'nsfwjs') {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the nsfwjs package root');
    dir = up;
  }
  return join(dir, 'dist', 'models');
}

/** Writes model.json (with `fields` added) and one .bin per weight shard of the bundled model in `srcDir`. */
export async function exportModelFiles(
  srcDir: string,
  outDir: string,
  fields: Record<string, unknown> = {},
): Promise<void> {
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
  await writeFile(join(outDir, 'model.json'), JSON.stringify({ ...modelJson, ...fields, weightsManifest: manifest }));
}

/** The model's metadata.json, as the service reads it (src/model/metadata.ts). */
export async function writeNsfwjsMetadata(
  outDir: string,
  m: { title: string; size: number; format: 'layers' | 'graph' },
): Promise<void> {
  const meta: ModelMetadata = {
    name: m.title,
    labels: NSFWJS_LABELS,
    input: { height: m.size, width: m.size, channels: 3, layout: 'NHWC' },
    preprocessing: NSFWJS_PREPROCESSING,
    output: 'probabilities',
    tfjs: { modelJson: 'model.json', format: m.format },
  };
  await writeFile(join(outDir, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
}
