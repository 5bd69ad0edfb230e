/**
 * Exports nsfwjs's bundled MobileNetV2 (a pretrained 5-class image classifier shipped inside the npm package) into a
 * plain TF.js model directory: model.json + weight shard + metadata.json. Nothing is downloaded.
 *
 *   npm run model:export [-- <out-dir>]      (default: models/default)
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
interface ModelJson {
  modelTopology: unknown;
  weightsManifest: WeightsGroup[];
}

function packageRoot(entry: string): string {
  let dir = dirname(entry);
  while (!existsSync(join(dir, 'package.json')) || basename(dir) !== 'nsfwjs') {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the nsfwjs package root above ${entry}`);
    dir = up;
  }
  return dir;
}

export async function exportDefaultModel(outDir: string): Promise<void> {
  // nsfwjs keeps its models outside its `exports` map, so resolve the package root and require the files by path.
  const pkgRoot = packageRoot(require.resolve('nsfwjs'));
  const srcDir = join(pkgRoot, 'dist', 'models', 'mobilenet_v2');
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
  await writeFile(
    join(outDir, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      generatedBy: 'nsfwjs 4.x (exported)',
      modelTopology: modelJson.modelTopology,
      weightsManifest: manifest,
    }),
  );

  const meta: ModelMetadata = {
    name: 'nsfwjs-mobilenet-v2',
    labels: ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'],
    input: { height: 224, width: 224, channels: 3, layout: 'NHWC' },
    // nsfwjs's infer(): decoded RGB / 255, tf.image.resizeBilinear(224×224, alignCorners = true), no crop.
    preprocessing: {
      channelOrder: 'RGB',
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      resize: { method: 'bilinear', alignCorners: true, halfPixelCenters: false, fit: 'fill' },
    },
    output: 'probabilities',
    tfjs: { modelJson: 'model.json', format: 'layers' },
  };
  await writeFile(join(outDir, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = resolve(process.argv[2] ?? 'models/default');
  await exportDefaultModel(out);
  console.log(`exported nsfwjs MobileNetV2 to ${out}`);
}
