/**
 * npm run bench:load — the load benchmark. Every system is started fresh, driven by the same undici load
 * generator with the same images, and stopped:
 *   - the original project's stress test (500 requests, one every 50 ms) on the service and the best naive;
 *   - a closed-loop concurrency sweep (1…64 in flight);
 *   - an open-loop rate sweep at fractions of the system's own saturation throughput, up to 1.5× (past it),
 *     plus the comparison rate (0.8 × the best naive system's saturation) on the default service.
 * For each point: throughput, p50/p90/p99, errors by status, and the batch sizes the model hosts formed
 * (their LOG_LEVEL=debug 'batch' lines). Writes bench/results/load.json; bench/report.ts plots it.
 * BENCH_QUICK=1 shortens every point (smoke run); BENCH_ONLY=id,id runs a subset.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import cliProgress from 'cli-progress';
import { exampleImages, multipartBody, smallJpegs, ROOT, type Body } from './lib/images.ts';
import { closedLoop, LoadClient, openLoop, type PointResult } from './lib/loadgen.ts';
import { round } from './lib/stats.ts';
import { buildTinyModel } from './lib/tiny-model.ts';
import { cores, startNaive, startService, startSplit, type Running } from './lib/systems.ts';
import { behindNginx } from './lib/nginx.ts';
import type { Proc } from './lib/procs.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean);
const MEASURE_MS = QUICK ? 1200 : 3000;
const OPEN_SEND_MS = QUICK ? 1200 : 3000;
const OPEN_DRAIN_MS = 8000;
const CONCURRENCY = [1, 2, 4, 8, 16, 32, 64];
const FRACTIONS = [0.5, 0.8, 1.0, 1.25, 1.5];

const photos = exampleImages().map(multipartBody);
const tinyDir = await buildTinyModel(32);
const smalls = (await smallJpegs(64)).map(multipartBody);

interface SystemDef {
  id: string;
  label: string;
  /** naive | service | plumbing | scaling | tuning */
  kind: string;
  start(): Promise<Running>;
  bodies: Body[];
  concurrency: number[];
  /** Open-loop sweep at these fractions of the closed-loop saturation throughput. */
  fractions: number[];
  stress?: boolean;
  /** Also measure open loop at the comparison rate (0.8 × best naive saturation). */
  comparisonRate?: boolean;
}

const SYSTEMS: SystemDef[] = [
  {
    id: 'naive-onnx',
    label: 'naive node:http + ONNX (1 process, 2 intra-op threads)',
    kind: 'naive',
    start: () => startNaive('naive-onnx', 'onnx', 1),
    bodies: photos,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
  },
  {
    id: 'naive-onnx-cluster',
    label: `naive node:http + ONNX (cluster ×${cores})`,
    kind: 'naive',
    start: () => startNaive('naive-onnx-cluster', 'onnx', cores),
    bodies: photos,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
    stress: true,
  },
  {
    id: 'naive-onnx-cluster-fast',
    label: `naive node:http + ONNX (cluster ×${cores}), the service's decoders inline (DECODER=product)`,
    kind: 'naive',
    start: () => startNaive('naive-onnx-cluster-fast', 'onnx', cores, { DECODER: 'product' }),
    bodies: photos,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
  },
  {
    id: 'naive-tfjs',
    label: 'naive node:http + TF.js (1 process)',
    kind: 'naive',
    start: () => startNaive('naive-tfjs', 'tfjs', 1),
    bodies: photos,
    concurrency: CONCURRENCY,
    fractions: [0.5, 1.0, 1.5],
  },
  {
    id: 'naive-tfjs-cluster',
    label: `naive node:http + TF.js (cluster ×${cores})`,
    kind: 'naive',
    start: () => startNaive('naive-tfjs-cluster', 'tfjs', cores),
    bodies: photos,
    concurrency: CONCURRENCY,
    fractions: [0.5, 1.0, 1.5],
  },
  {
    id: 'service-onnx',
    label: 'service, default engine (onnx)',
    kind: 'service',
    start: () => startService('service-onnx', {}),
    bodies: photos,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
    stress: true,
    comparisonRate: true,
  },
  {
    id: 'service-tfjs',
    label: 'service, ENGINE=tfjs',
    kind: 'service',
    start: () => startService('service-tfjs', { ENGINE: 'tfjs' }),
    bodies: photos,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
  },
  {
    id: 'plumbing',
    label: 'plumbing ceiling: service, trivial model, 64×64 JPEGs',
    kind: 'plumbing',
    start: () => startService('plumbing', { MODEL_DIR: tinyDir }),
    bodies: smalls,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
  },
  // The same with Node's own http module instead of uWS (HTTP_SERVER=node): the price of the fallback.
  {
    id: 'plumbing-node',
    label: 'plumbing ceiling, HTTP_SERVER=node: same service, model and JPEGs, node:http instead of uWS',
    kind: 'plumbing',
    start: () => startService('plumbing-node', { MODEL_DIR: tinyDir, HTTP_SERVER: 'node' }),
    bodies: smalls,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
  },
  // The same behind nginx (the project's rendered configuration, own prefix, free port): what `npm run prod:up` adds.
  {
    id: 'plumbing-nginx',
    label: 'plumbing ceiling behind nginx: same service, model and JPEGs, nginx in front',
    kind: 'plumbing',
    start: () => behindNginx(() => startService('plumbing-nginx', { MODEL_DIR: tinyDir })),
    bodies: smalls,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
  },
  // Spending cores: the same default model, standalone processes.
  {
    id: 'split-1host',
    label: 'split: 1 model host + 1 front end',
    kind: 'scaling',
    start: () => startSplit('split-1host', 1, {}),
    bodies: photos,
    concurrency: [8, 32],
    fractions: [],
  },
  {
    id: 'split-2hosts',
    label: 'split: 2 model hosts (PREPROCESS_THREADS=1 each) + 1 front end',
    kind: 'scaling',
    start: () => startSplit('split-2hosts', 2, { PREPROCESS_THREADS: '1' }),
    bodies: photos,
    concurrency: [8, 32],
    fractions: [],
  },
  {
    id: 'service-intra2',
    label: 'service, INTRA_OP_THREADS=2',
    kind: 'scaling',
    start: () => startService('service-intra2', { INTRA_OP_THREADS: '2' }),
    bodies: photos,
    concurrency: [8, 32],
    fractions: [],
  },
  // Batching knobs: ONNX Runtime on this CPU gets slower per image as batches grow (bench:micro), so smaller
  // batches are tried against the default, closed and open loop past saturation.
  {
    id: 'service-maxbatch8',
    label: 'service, MAX_BATCH=8',
    kind: 'tuning',
    start: () => startService('service-maxbatch8', { MAX_BATCH: '8' }),
    bodies: photos,
    concurrency: [1, 32, 64],
    fractions: [1.0, 1.5],
  },
  {
    id: 'service-maxbatch4',
    label: 'service, MAX_BATCH=4',
    kind: 'tuning',
    start: () => startService('service-maxbatch4', { MAX_BATCH: '4' }),
    bodies: photos,
    concurrency: [1, 32, 64],
    fractions: [1.0, 1.5],
  },
  {
    id: 'service-delay0',
    label: 'service, MAX_BATCH_DELAY_MS=0',
    kind: 'tuning',
    start: () => startService('service-delay0', { MAX_BATCH_DELAY_MS: '0' }),
    bodies: photos,
    concurrency: [1, 8, 32],
    fractions: [],
  },
].filter((s) => !ONLY || ONLY.includes(s.id));

// ---------- progress ----------
const totalPoints = SYSTEMS.reduce(
  (n, s) => n + s.concurrency.length + s.fractions.length + (s.stress ? 1 : 0) + (s.comparisonRate ? 1 : 0),
  0,
);
// (the head-to-head rounds at the end are not counted in the bar)
const tty = process.stderr.isTTY;
const bar = tty
  ? new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: ' {bar} {value}/{total} points | {system} {point} | {answers} answers | {elapsed}s',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    )
  : undefined;
const startedAt = Date.now();
let done = 0;
bar?.start(totalPoints, 0, { system: '', point: '', answers: 0, elapsed: 0 });
const tick = (system: string, point: string) => (answers: number) => {
  if (answers % 20 === 0)
    bar?.update(done, { system, point, answers, elapsed: Math.round((Date.now() - startedAt) / 1000) });
};
const log = (line: string) => {
  if (bar) bar.update(done, { point: line.slice(0, 60) });
  else process.stderr.write(`[${Math.round((Date.now() - startedAt) / 1000)}s] ${line}\n`);
};

// ---------- batches ----------
interface BatchSummary {
  batches: number;
  images: number;
  meanSize: number;
  meanInferenceMs: number;
  meanFormingMs: number;
  sizes: Record<string, number>;
}
function batchesSince(hosts: Proc[], marks: number[]): BatchSummary | undefined {
  if (hosts.length === 0) return undefined;
  const lines = hosts.flatMap((h, i) => h.batches.slice(marks[i]));
  const sizes: Record<string, number> = {};
  let images = 0,
    inf = 0,
    forming = 0;
  for (const b of lines) {
    sizes[b.size] = (sizes[b.size] ?? 0) + 1;
    images += b.size;
    inf += b.inferenceMs;
    forming += b.formingMs;
  }
  const n = lines.length || 1;
  return {
    batches: lines.length,
    images,
    meanSize: round(images / n),
    meanInferenceMs: round(inf / n),
    meanFormingMs: round(forming / n),
    sizes,
  };
}

async function point<T extends PointResult>(
  sys: SystemDef,
  run: Running,
  label: string,
  fn: (onTick: (n: number) => void) => Promise<T>,
) {
  const marks = run.hosts.map((h) => h.batches.length);
  const load1 = loadavg()[0]!;
  const r = await fn(tick(sys.id, label));
  done++;
  const batches = batchesSince(run.hosts, marks);
  const rss = Object.fromEntries(run.all.map((p) => [p.name, round(p.rssMiB(), 1)]));
  const out = {
    ...r,
    throughput: round(r.throughput, 2),
    durationS: round(r.durationS, 2),
    latencyMs: Object.fromEntries(Object.entries(r.latencyMs).map(([k, v]) => [k, round(v, 1)])),
    batches,
    rssMiB: rss,
    loadavg1: round(load1, 2),
  };
  const errs = Object.entries(r.errorsByStatus)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
  log(
    `${sys.id} ${label}: ${out.throughput} req/s, p50 ${out.latencyMs.p50} p99 ${out.latencyMs.p99} ms${errs ? `, errors ${errs}` : ''}${batches ? `, batch ${batches.meanSize}` : ''}`,
  );
  return out;
}

// ---------- run ----------
const previous = await readFile(`${ROOT}bench/results/load.json`, 'utf8')
  .then((t) => JSON.parse(t) as { systems: Record<string, unknown>; headToHead?: unknown })
  .catch(() => undefined);
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  cores,
  cpu: cpus()[0]?.model,
  node: process.version,
  quick: QUICK,
  settings: {
    measureMs: MEASURE_MS,
    openSendMs: OPEN_SEND_MS,
    openDrainMs: OPEN_DRAIN_MS,
    concurrency: CONCURRENCY,
    fractions: FRACTIONS,
  },
  // A subset run keeps the other systems' last results.
  systems: ONLY && previous ? { ...previous.systems } : ({} as Record<string, unknown>),
  // ...and the last head-to-head, unless this run repeats it.
  headToHead: ONLY && previous ? previous.headToHead : undefined,
};
const systemsOut = results.systems as Record<
  string,
  { saturation: number; kind: string; points: unknown[] } & Record<string, unknown>
>;
let comparisonRate: number | undefined;

async function save(): Promise<void> {
  await mkdir(`${ROOT}bench/results`, { recursive: true });
  await writeFile(`${ROOT}bench/results/load.json`, JSON.stringify(results, null, 1) + '\n');
}

let failed = false;
// BENCH_H2H_ONLY=1: only the head to head below (same-run ratios, quick), keeping the sweeps' last results.
const SWEEP_SYSTEMS = process.env.BENCH_H2H_ONLY === '1' ? [] : SYSTEMS;
for (const sys of SWEEP_SYSTEMS) {
  let run: Running | undefined;
  let client: LoadClient | undefined;
  const points: Array<Record<string, unknown> | PointResult> = [];
  const entry = { label: sys.label, kind: sys.kind, saturation: 0, points } as {
    label: string;
    kind: string;
    saturation: number;
    points: typeof points;
  } & Record<string, unknown>;
  try {
    log(`starting ${sys.id}`);
    run = await sys.start();
    client = new LoadClient(run.url, sys.bodies, 512);
    // Warm the connection pool and the engine's code paths.
    await Promise.all(Array.from({ length: 4 }, () => client!.post()));
    entry.rssStartMiB = Object.fromEntries(run.all.map((p) => [p.name, round(p.rssMiB(), 1)]));
    if (sys.stress) {
      // The original project's stress test: 500 requests, one every 50 ms, each on its own.
      const n = QUICK ? 100 : 500;
      points.push(await point(sys, run, 'stress', (t) => openLoop(client!, 20, n * 50, 30_000, 'stress', t)));
    }
    for (const c of sys.concurrency) {
      const minSamples = Math.min(Math.max(2 * c, 20), 60);
      points.push(await point(sys, run, `closed c=${c}`, (t) => closedLoop(client!, c, MEASURE_MS, minSamples, t)));
    }
    const sat = Math.max(...(points as PointResult[]).filter((p) => p.mode === 'closed').map((p) => p.throughput));
    entry.saturation = sat;
    for (const f of sys.fractions) {
      const rps = round(sat * f, 1);
      points.push({
        fraction: f,
        ...(await point(sys, run, `open ${rps} req/s (${f}× sat)`, (t) =>
          openLoop(client!, rps, OPEN_SEND_MS, OPEN_DRAIN_MS, 'open', t),
        )),
      });
    }
    if (sys.comparisonRate && comparisonRate) {
      points.push({
        fraction: 'comparison',
        ...(await point(sys, run, `open ${comparisonRate} req/s (comparison)`, (t) =>
          openLoop(client!, comparisonRate!, OPEN_SEND_MS, OPEN_DRAIN_MS, 'open', t),
        )),
      });
    }
    entry.rssEndMiB = Object.fromEntries(run.all.map((p) => [p.name, round(p.rssMiB(), 1)]));
    if (sys.kind === 'naive') {
      const bestNaive = Math.max(
        ...Object.values(systemsOut)
          .filter((s) => s.kind === 'naive')
          .map((s) => s.saturation),
        sat,
      );
      comparisonRate = round(0.8 * bestNaive, 1);
    }
  } catch (err) {
    failed = true;
    entry.error = (err as Error).message;
    log(`${sys.id} failed: ${(err as Error).message}`);
  } finally {
    await client?.close().catch(() => {});
    await run?.stop().catch(() => {});
  }
  systemsOut[sys.id] = entry;
  results.comparisonRate = comparisonRate;
  await save();
}
// ---------- head to head ----------
// The sweeps above run one system after another, so a burst of other work on the shared machine can land on
// one system's saturation point and not another's. Here the ONNX systems all run at once (idle ones cost
// nothing) and take turns, H2H_ROUNDS times, at the same closed-loop load; each gets the median of its rounds.
const H2H_IDS = [
  'service-onnx',
  'service-maxbatch4',
  'naive-onnx',
  'naive-onnx-cluster',
  'naive-onnx-cluster-fast',
].filter((id) => !ONLY || ONLY.includes(id));
const H2H_C = 64;
const H2H_ROUNDS = Number(process.env.BENCH_H2H_ROUNDS ?? (QUICK ? 1 : 3));
if (H2H_IDS.length >= 2) {
  const running: Array<{ id: string; run: Running; client: LoadClient }> = [];
  const h2h: Record<
    string,
    {
      throughput: number[];
      p50: number[];
      p99: number[];
      medianThroughput?: number;
      medianP99?: number;
      batchMean?: number[];
    }
  > = {};
  try {
    for (const id of H2H_IDS) {
      const def = SYSTEMS.find((s) => s.id === id)!;
      log(`head-to-head: starting ${id}`);
      const run = await def.start();
      const client = new LoadClient(run.url, def.bodies, 512);
      await Promise.all(Array.from({ length: 4 }, () => client.post()));
      running.push({ id, run, client });
      h2h[id] = { throughput: [], p50: [], p99: [], batchMean: [] };
    }
    for (let r = 0; r < H2H_ROUNDS; r++) {
      // Rotate the order every round.
      for (let k = 0; k < running.length; k++) {
        const { id, run, client } = running[(k + r) % running.length]!;
        const marks = run.hosts.map((h) => h.batches.length);
        const p = await closedLoop(client, H2H_C, MEASURE_MS, 60);
        const b = batchesSince(run.hosts, marks);
        h2h[id]!.throughput.push(round(p.throughput, 2));
        h2h[id]!.p50.push(round(p.latencyMs.p50, 1));
        h2h[id]!.p99.push(round(p.latencyMs.p99, 1));
        if (b) h2h[id]!.batchMean!.push(b.meanSize);
        log(
          `head-to-head round ${r + 1} ${id} c=${H2H_C}: ${round(p.throughput, 1)} req/s, p99 ${round(p.latencyMs.p99, 0)} ms`,
        );
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const v of Object.values(h2h)) {
      v.medianThroughput = med(v.throughput);
      v.medianP99 = med(v.p99);
    }
    results.headToHead = { concurrency: H2H_C, rounds: H2H_ROUNDS, systems: h2h };
  } catch (err) {
    failed = true;
    results.headToHead = { error: (err as Error).message };
    log(`head-to-head failed: ${(err as Error).message}`);
  } finally {
    for (const { run, client } of running) {
      await client.close().catch(() => {});
      await run.stop().catch(() => {});
    }
  }
  await save();
}

bar?.stop();
console.log(`load benchmark done in ${Math.round((Date.now() - startedAt) / 1000)} s; wrote bench/results/load.json`);
process.exit(failed ? 1 : 0);
