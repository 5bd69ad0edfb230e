/**
 * npm run bench:quantize — the int8 version of the default model against its float version, on one machine in
 * one run: (1) `npm run quantize` on a copy of the repository (or BENCH_REPO, a repository already holding
 * default/1 float and default/2 int8); (2) inference CPU per image at batch 1 and 8 (ONNX Runtime, one intra-op
 * thread, the two models in alternating rounds; ratio = median of the rounds) on the photos bench:micro decodes;
 * (3) fidelity on the fidelity photos (bench/lib/fidelity-images.ts; max |Δp|, top-1); (4) served throughput of the real service
 * (`npm start`'s process) pinned to each version in turn, same closed-loop load (BENCH_CONCURRENCY in flight).
 * Writes quantize.json (bench/results/ with BENCH_SAVE=1).
 *
 *   npm run bench:quantize       (BENCH_SAMPLES calibration samples, BENCH_MEASURE_MS, BENCH_ROUNDS)
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageElements, readMetadata } from '../src/model/metadata.ts';
import { OnnxEngine } from '../src/model/onnx-engine.ts';
import { createPreprocessor } from '../src/preprocess/preprocess-image.ts';
import { compareProbabilities, predict } from '../tools/onnx-quantize/fidelity.ts';
import { parseOptions } from '../tools/onnx-quantize/options.ts';
import { runQuantize } from '../tools/onnx-quantize/quantize.ts';
import { describeCpu } from './lib/cpu.ts';
import { fidelityImages } from './lib/fidelity-images.ts';
import { multipartBody, preprocessImages, ROOT } from './lib/images.ts';
import { closedLoop, LoadClient } from './lib/loadgen.ts';
import { startService } from './lib/systems.ts';
import { saveResults } from './lib/results.ts';

const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SAMPLES = process.env.BENCH_SAMPLES ?? '72';
const BATCHES = [1, 8];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** CPU ms per image of `engine` on `batch` images, run for MEASURE_MS. */
async function cpuPerImage(engine: OnnxEngine, input: Float32Array, batch: number): Promise<number> {
  let images = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  while (performance.now() - started < MEASURE_MS) {
    await engine.run(input, batch);
    images += batch;
  }
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000 / images;
}

let repo = process.env.BENCH_REPO;
const scratch = repo ? undefined : await mkdtemp(join(tmpdir(), 'bench-quantize-'));
try {
  if (!repo) {
    repo = scratch!;
    await cp(join(ROOT, 'models/default'), join(repo, 'default'), { recursive: true });
    const options = parseOptions(['default', '--samples', SAMPLES]);
    const outcome = await runQuantize(options, { ...process.env, MODEL_REPOSITORY: repo }, (l) => console.log(l));
    if (!outcome.published) throw new Error(`the quantizer refused: ${outcome.problems.join('; ')}`);
  }
  const dirs = { fp32: join(repo, 'default', '1'), int8: join(repo, 'default', '2') };
  const metas = { fp32: await readMetadata(dirs.fp32), int8: await readMetadata(dirs.int8) };

  // Inference: the same inputs through both models, alternating.
  const engines = {
    fp32: await OnnxEngine.load({ modelDir: dirs.fp32, meta: metas.fp32, intraOpThreads: 1 }),
    int8: await OnnxEngine.load({ modelDir: dirs.int8, meta: metas.int8, intraOpThreads: 1 }),
  };
  const size = imageElements(metas.fp32);
  const photos = await preprocessImages();
  const inputs = new Float32Array(size * photos.length);
  const preprocess = createPreprocessor(metas.fp32, { maxInputPixels: 40e6, maxJpegScans: 100, jpegDctScaling: false });
  for (const [i, photo] of photos.entries()) await preprocess(photo.bytes, inputs, i * size);
  const batchInput = new Float32Array(8 * size);
  for (let i = 0; i < 8; i++)
    batchInput.set(inputs.subarray((i % photos.length) * size, ((i % photos.length) + 1) * size), i * size);
  for (const e of Object.values(engines)) for (const b of BATCHES) await e.run(batchInput, b);
  const cpu: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++)
    for (const batch of BATCHES)
      for (const name of round % 2 ? (['int8', 'fp32'] as const) : (['fp32', 'int8'] as const))
        (cpu[`${name}@${batch}`] ??= []).push(await cpuPerImage(engines[name], batchInput, batch));
  for (const e of Object.values(engines)) await e.dispose();
  const inference = BATCHES.map((batch) => {
    const [fp32, int8] = [cpu[`fp32@${batch}`]!, cpu[`int8@${batch}`]!];
    return {
      batch,
      fp32CpuMsPerImage: median(fp32),
      int8CpuMsPerImage: median(int8),
      speedup: median(fp32.map((f, i) => f / int8[i]!)),
    };
  });

  // Fidelity on the project's fidelity photos (the preprocessing-fidelity test's set; none of them calibrates).
  const fidelityPhotos = await fidelityImages();
  const fidelityInputs = new Float32Array(size * fidelityPhotos.length);
  for (const [i, photo] of fidelityPhotos.entries()) await preprocess(photo.bytes, fidelityInputs, i * size);
  const floatBytes = await readFile(join(dirs.fp32, 'model.onnx'));
  const fidelity = compareProbabilities(
    await predict(floatBytes, metas.fp32, fidelityInputs),
    await predict(await readFile(join(dirs.int8, 'model.onnx')), metas.int8, fidelityInputs),
    metas.fp32.labels,
    fidelityPhotos.map((p) => p.name),
  );

  // Served throughput, pinned to each version in turn under the same load.
  const service = await startService('quantize-bench', { MODEL_REPOSITORY: repo, MODELS: 'default' });
  const served: Record<string, number[]> = {};
  try {
    const bodies = photos.slice(0, 3).map(multipartBody);
    for (let round = 0; round < ROUNDS; round++)
      for (const version of round % 2 ? ['2', '1'] : ['1', '2']) {
        const client = new LoadClient(service.url, bodies, CONCURRENCY, `/predict?version=${version}`);
        const point = await closedLoop(client, CONCURRENCY, MEASURE_MS, 50);
        await client.close();
        if (point.ok !== point.requests) throw new Error(`version ${version}: ${JSON.stringify(point.errorsByStatus)}`);
        (served[version] ??= []).push(point.throughput);
      }
  } finally {
    await service.stop();
  }
  const throughput = {
    concurrency: CONCURRENCY,
    fp32RequestsPerS: median(served['1']!),
    int8RequestsPerS: median(served['2']!),
    ratio: median(served['2']!.map((t, i) => t / served['1']![i]!)),
  };

  const result = {
    date: new Date().toISOString(),
    cpu: describeCpu(),
    node: process.version,
    measureMs: MEASURE_MS,
    rounds: ROUNDS,
    quantization: metas.int8.quantization,
    inference,
    fidelity: { photos: fidelity.samples, maxDelta: fidelity.maxDelta, top1Agreement: fidelity.top1Agreement },
    throughput,
  };
  const f = (v: number, d = 2) => v.toFixed(d);
  console.log(`default model, int8 (version 2) against fp32 (version 1); ${result.cpu}, Node ${result.node}`);
  console.log('| batch | fp32 CPU ms/img | int8 CPU ms/img | int8 speed-up (median of rounds) |');
  console.log('| --- | --- | --- | --- |');
  for (const r of inference)
    console.log(`| ${r.batch} | ${f(r.fp32CpuMsPerImage)} | ${f(r.int8CpuMsPerImage)} | ${f(r.speedup)}× |`);
  console.log(
    `fidelity on the ${fidelityPhotos.length} fidelity photos: max |Δp| ${f(fidelity.maxDelta, 4)}, top-1 ` +
      `identical on ${Math.round(fidelity.top1Agreement * fidelityPhotos.length)} of ${fidelityPhotos.length}`,
  );
  console.log(
    `served, pinned, ${CONCURRENCY} in flight: fp32 ${f(throughput.fp32RequestsPerS, 1)} req/s, int8 ` +
      `${f(throughput.int8RequestsPerS, 1)} req/s, ratio ${f(throughput.ratio)}×`,
  );
  saveResults('quantize.json', result);
} finally {
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
