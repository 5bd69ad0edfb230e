/**
 * `npm run models:examples`: the example model repository for serving several models (MODEL_REPOSITORY=
 * examples/models), from the models bundled in node_modules/nsfwjs, nothing downloaded:
 *
 *   default            nsfwjs MobileNetV2 224², converted to ONNX (the same as models/default)
 *   inception_v3       a layers model, 299², converted to ONNX
 *   mobilenet_v2_mid   a graph model, 224², converted to ONNX (if that fails it stays on TF.js, the reason in its
 *                      metadata.json)
 *
 * Built in a temporary directory and renamed into place, so a reader never sees half a repository; idempotent.
 *
 *   npm run models:examples [-- [--force] <repository>]      (default: examples/models)
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { convertTfjsModelDir } from '../tools/onnx-convert/convert.ts';
import { exportDefaultModel } from './export-default-model.ts';
import { exportNsfwjsModels } from './export-nsfwjs-models.ts';
import { exitIfStaleBuild } from '../src/build/stamp.ts';
import { EXAMPLE_REPOSITORY, EXAMPLES_LAYOUT, EXAMPLES_MARKER, examplesPrepared } from './lib/example-models.ts';

/** Each step prepares part of the repository being built in `dir`. */
const STEPS: Array<[name: string, run: (dir: string) => Promise<unknown>]> = [
  ['default: export', (dir) => exportDefaultModel(join(dir, 'default'))],
  ['default: convert to ONNX', (dir) => convertTfjsModelDir(join(dir, 'default'))],
  ['inception_v3, mobilenet_v2_mid: export', (dir) => exportNsfwjsModels(dir)],
  ['inception_v3: convert to ONNX', (dir) => convertTfjsModelDir(join(dir, 'inception_v3'))],
  ['mobilenet_v2_mid: convert to ONNX', (dir) => convertOrStayOnTfjs(join(dir, 'mobilenet_v2_mid'))],
];

/** A model the converter cannot handle is still served, on TF.js: the reason is in its metadata and printed. */
async function convertOrStayOnTfjs(modelDir: string): Promise<void> {
  try {
    await convertTfjsModelDir(modelDir);
  } catch (err) {
    console.warn(`models:examples: ${modelDir} stays on TF.js: ${(err as Error).message}`);
  }
}

export async function prepareExampleModels(repository: string): Promise<void> {
  const building = `${repository}.building-${process.pid}`;
  await rm(building, { recursive: true, force: true });
  try {
    for (const [name, run] of STEPS) {
      const started = performance.now();
      await run(building);
      console.log(`models:examples: ${name} (${Math.round(performance.now() - started)} ms)`);
    }
    await writeFile(join(building, EXAMPLES_MARKER), `${EXAMPLES_LAYOUT}\n`);
    await rm(repository, { recursive: true, force: true });
    await rename(building, repository);
  } catch (err) {
    await rm(building, { recursive: true, force: true });
    // Another run (a concurrent test file) finished first: its repository is as good as ours.
    if (examplesPrepared(repository)) return;
    throw err;
  }
}

exitIfStaleBuild('models:examples');
const args = process.argv.slice(2);
const repository = resolve(args.find((a) => !a.startsWith('--')) ?? EXAMPLE_REPOSITORY);
if (examplesPrepared(repository) && !args.includes('--force')) {
  console.log(`models:examples: ${repository} is prepared (--force rebuilds it)`);
} else {
  try {
    await prepareExampleModels(repository);
    console.log(`models:examples: ready in ${repository}; serve it with MODEL_REPOSITORY=${repository} npm start`);
  } catch (err) {
    console.error(`models:examples failed: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
