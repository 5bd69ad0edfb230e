/**
 * A TF.js graph model on the two engines the service chooses between: nsfwjs mobilenet_v2_mid exported from the
 * npm package, converted by tools/onnx-convert, then run on ONNX Runtime (one intra-op thread) and on TF.js (the
 * backend the service would pick here: wasm without tfjs-node) in one process, in alternating rounds so both see
 * the same machine load. Prints images/s and CPU ms per image at batch 1 and 8, the ONNX/TF.js ratio of each round
 * (median), and the largest output difference; writes graph-model.json (bench/results/ with BENCH_SAVE=1).
 *
 *   node --import tsx bench/graph-model.ts      (~1 min; BENCH_MEASURE_MS per engine, batch and round, BENCH_ROUNDS)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportModelFiles, nsfwjsModelsDir, writeNsfwjsMetadata } from '../scripts/lib/nsfwjs-models.ts';
import { imageElements, readMetadata } from '../src/model/metadata.ts';
import type { InferenceEngine } from '../src/model/engine.ts';
import { OnnxEngine } from '../src/model/onnx-engine.ts';
import { TfjsEngine } from '../src/model/tfjs-engine.ts';
import { convertTfjsModelDir } from '../tools/onnx-convert/convert.ts';
import { describeCpu } from './lib/cpu.ts';
import { saveResults } from './lib/results.ts';

const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCHES = [1, 8];

interface Sample {
  imagesPerS: number;
  cpuMsPerImage: number;
}

/** Runs `engine` on `batch` images for MEASURE_MS; wall-clock rate and process CPU per image. */
async function measure(engine: InferenceEngine, input: Float32Array, batch: number): Promise<Sample> {
  let images = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  while (performance.now() - started < MEASURE_MS) {
    await engine.run(input, batch);
    images += batch;
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { imagesPerS: images / seconds, cpuMsPerImage: (used.user + used.system) / 1000 / images };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const dir = await mkdtemp(join(tmpdir(), 'bench-graph-model-'));
try {
  await exportModelFiles(join(nsfwjsModelsDir(), 'mobilenet_v2_mid'), dir);
  await writeNsfwjsMetadata(dir, { title: 'nsfwjs-mobilenet-v2-mid', size: 224, format: 'graph' });
  const convertStarted = performance.now();
  await convertTfjsModelDir(dir);
  const convertMs = performance.now() - convertStarted;
  const meta = await readMetadata(dir);
  const engines: Record<string, InferenceEngine> = {
    onnx: await OnnxEngine.load({ modelDir: dir, meta, intraOpThreads: 1 }),
    tfjs: await TfjsEngine.load({ modelDir: dir, meta, intraOpThreads: 1 }),
  };
  const input = new Float32Array(Math.max(...BATCHES) * imageElements(meta));
  for (let i = 0; i < input.length; i++) input[i] = ((i * 7919) % 256) / 255;

  let maxDiff = 0;
  const [fromOnnx, fromTfjs] = [await engines.onnx!.run(input, 8), await engines.tfjs!.run(input, 8)];
  for (let i = 0; i < fromOnnx.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fromOnnx[i]! - fromTfjs[i]!));
  for (const engine of Object.values(engines)) for (const batch of BATCHES) await engine.run(input, batch);

  const samples: Record<string, Sample[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const batch of BATCHES) {
      // Alternate which engine goes first, so a load spike does not always land on the same one.
      const order = round % 2 ? ['tfjs', 'onnx'] : ['onnx', 'tfjs'];
      for (const name of order) (samples[`${name}@${batch}`] ??= []).push(await measure(engines[name]!, input, batch));
    }
  }

  const rows = BATCHES.map((batch) => {
    const [onnx, tfjs] = [samples[`onnx@${batch}`]!, samples[`tfjs@${batch}`]!];
    return {
      batch,
      onnxImagesPerS: median(onnx.map((s) => s.imagesPerS)),
      tfjsImagesPerS: median(tfjs.map((s) => s.imagesPerS)),
      onnxCpuMsPerImage: median(onnx.map((s) => s.cpuMsPerImage)),
      tfjsCpuMsPerImage: median(tfjs.map((s) => s.cpuMsPerImage)),
      throughputRatio: median(onnx.map((s, i) => s.imagesPerS / tfjs[i]!.imagesPerS)),
    };
  });
  const result = {
    date: new Date().toISOString(),
    cpu: describeCpu(),
    node: process.version,
    tfjsBackend: engines.tfjs!.info.backend,
    measureMs: MEASURE_MS,
    rounds: ROUNDS,
    convertMs: Math.round(convertMs),
    maxOutputDiff: maxDiff,
    rows,
  };
  for (const engine of Object.values(engines)) await engine.dispose();

  const fixed = (v: number, digits = 1): string => v.toFixed(digits);
  console.log(`mobilenet_v2_mid, ${result.cpu}, Node ${result.node}, TF.js backend ${result.tfjsBackend}`);
  console.log(`converted in ${result.convertMs} ms; max |ONNX − TF.js| over 8 images: ${maxDiff.toExponential(2)}`);
  console.log(
    '| batch | ONNX Runtime img/s (CPU ms/img) | TF.js img/s (CPU ms/img) | ONNX ÷ TF.js (median of rounds) |',
  );
  console.log('| --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.batch} | ${fixed(r.onnxImagesPerS)} (${fixed(r.onnxCpuMsPerImage)}) | ` +
        `${fixed(r.tfjsImagesPerS)} (${fixed(r.tfjsCpuMsPerImage)}) | ${fixed(r.throughputRatio, 2)}× |`,
    );
  saveResults('graph-model.json', result);
} finally {
  await rm(dir, { recursive: true, force: true });
}
