/**
 * bench:models (short runs, about two minutes): the Open Inference Protocol beside /predict, and two models
 * sharing one machine.
 *
 *   1. Plumbing ceiling: the trivial model and 64×64 JPEGs (what bench:load calls the plumbing ceiling), closed
 *      loop, through POST /predict (multipart) and through POST /v2/models/{name}/infer (binary BYTES).
 *   2. Two models on one service (one model host, a lane each): default (224², 5 ms CPU per image) and
 *      inception_v3 (299², ~58 ms), each alone, then both at once, photo-sized examples through /predict?model=.
 *
 * Prints a table; writes models.json (to bench/results/ with BENCH_SAVE=1, bench/lib/results.ts).
 */
import { mkdtemp, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { buildTinyModel } from './lib/tiny-model.ts';
import { exampleImages, multipartBody, smallJpegs, v2BytesBody } from './lib/images.ts';
import { closedLoop, LoadClient, type PointResult } from './lib/loadgen.ts';
import { startService } from './lib/systems.ts';
import { round } from './lib/stats.ts';
import { ensureExampleModels } from '../scripts/lib/example-models.ts';
import { saveResults } from './lib/results.ts';

const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 6000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

interface Row {
  figure: string;
  concurrency: number;
  throughput: number;
  p50: number;
  p99: number;
  errors: Record<string, number>;
}
const rows: Row[] = [];
const record = (figure: string, p: PointResult) => {
  const row = {
    figure,
    concurrency: p.concurrency ?? 0,
    throughput: round(p.throughput, 1),
    p50: round(p.latencyMs.p50, 1),
    p99: round(p.latencyMs.p99, 1),
    errors: p.errorsByStatus,
  };
  rows.push(row);
  console.log(
    `${figure.padEnd(52)} c=${row.concurrency}  ${String(row.throughput).padStart(7)} req/s  p50 ${row.p50} ms  p99 ${row.p99} ms  errors by status ${JSON.stringify(row.errors)}`,
  );
};

// 1. Plumbing ceiling: /predict vs /v2 infer with binary BYTES, same model, images, service.
{
  const tiny = await buildTinyModel(32);
  // A repository of one: the model's name is its directory's.
  const repo = await mkdtemp(join(tmpdir(), 'bench-models-'));
  const dir = join(repo, 'tiny');
  await rename(tiny, dir);
  const smalls = await smallJpegs(64);
  const run = await startService('models-plumbing', { MODEL_DIR: dir });
  try {
    const predict = new LoadClient(run.url, smalls.map(multipartBody), 256);
    const v2 = new LoadClient(run.url, smalls.map(v2BytesBody), 256, `/v2/models/${basename(dir)}/infer`);
    record('plumbing: POST /predict (multipart)', await closedLoop(predict, CONCURRENCY, MEASURE_MS, 100));
    record('plumbing: POST /v2/.../infer (binary BYTES)', await closedLoop(v2, CONCURRENCY, MEASURE_MS, 100));
    record('plumbing: POST /predict (multipart), again', await closedLoop(predict, CONCURRENCY, MEASURE_MS, 100));
    await Promise.all([predict.close(), v2.close()]);
  } finally {
    await run.stop();
  }
}

// 2. Two models of different cost on one model host: alone, then together.
{
  const run = await startService('models-two', {
    MODEL_REPOSITORY: await ensureExampleModels(),
    MODELS: 'default,inception_v3',
  });
  try {
    const bodies = exampleImages().map(multipartBody);
    const client = (model: string) => new LoadClient(run.url, bodies, 128, `/predict?model=${model}`);
    const a = client('default');
    const b = client('inception_v3');
    const c = CONCURRENCY / 2;
    record('default alone', await closedLoop(a, c, MEASURE_MS, 40));
    record('inception_v3 alone', await closedLoop(b, c, MEASURE_MS, 20));
    const [ta, tb] = await Promise.all([closedLoop(a, c, MEASURE_MS, 40), closedLoop(b, c, MEASURE_MS, 20)]);
    record('default, together with inception_v3', ta);
    record('inception_v3, together with default', tb);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await run.stop();
  }
}

saveResults('models.json', { date: new Date().toISOString(), measureMs: MEASURE_MS, rows });
