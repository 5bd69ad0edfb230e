/**
 * Several models in one model host: one inference thread per model, or one shared? Runs the models' engines
 * (default 224², inception_v3 299², ONNX Runtime, batch 4) for a fixed time both ways, each way in fresh
 * processes: "shared" = one process running the two models' batches in turn (what a shared inference thread
 * does), "separate" = one process per model running at the same time (what a thread per model does). Prints
 * images/s per model and the mean time between two batches of the same model (how long its next batch waits).
 *
 *   node --import tsx bench/inference-threads.ts      (~1 min)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ROOT } from './lib/images.ts';
import { ensureExampleModels } from '../scripts/lib/example-models.ts';
import { saveResults } from './lib/results.ts';

const run = promisify(execFile);
const DURATION_MS = Number(process.env.BENCH_MEASURE_MS ?? 15000);
const BATCH = 4;
const examples = await ensureExampleModels();
const models = ['default', 'inception_v3'].map((m) => join(examples, m));
const loop = async (dirs: string[]) => {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench/lib/engine-loop.ts'), String(DURATION_MS), String(BATCH), ...dirs],
    { cwd: ROOT },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as Array<{
    model: string;
    imagesPerS: number;
    meanGapMs: number;
  }>;
};

const shared = await loop(models);
const separate = (await Promise.all(models.map((m) => loop([m])))).flat();
const rows = [
  ...shared.map((r) => ({ way: 'shared thread', ...r })),
  ...separate.map((r) => ({ way: 'thread per model', ...r })),
];
for (const r of rows)
  console.log(
    `${r.way.padEnd(18)} ${r.model.padEnd(14)} ${r.imagesPerS.toFixed(1).padStart(7)} img/s   next batch after ${r.meanGapMs.toFixed(0)} ms`,
  );
saveResults('inference-threads.json', { date: new Date().toISOString(), durationMs: DURATION_MS, batch: BATCH, rows });
