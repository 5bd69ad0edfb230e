/**
 * bench:grpc — the Open Inference Protocol over gRPC against its REST form with the binary data extension, on the
 * same service, same images, same run, taking turns (REST, gRPC, then gRPC, REST, ...) so a busy machine moves both:
 *
 *   1. plumbing ceiling: the trivial model (32×32 → pooling → dense) and 64×64 JPEGs, what bench:load calls it;
 *   2. photos: the default model and the example photos (451×300 to 640×427).
 *
 * Each point is a closed loop with BENCH_CONCURRENCY calls in flight (default 16): REST through a keep-alive pool,
 * gRPC over one HTTP/2 connection (BENCH_GRPC_CONNECTIONS), both with requests prepared beforehand. Figures:
 * throughput, p50/p99, and the service's CPU time per answered request (its whole process tree, from /proc: the
 * load generator excluded), medians over BENCH_ROUNDS rounds, and the gRPC/REST ratio of each.
 *
 *   npm run bench:grpc        (about 3 minutes; BENCH_MEASURE_MS=3000 BENCH_ROUNDS=1 for a smoke run,
 *                              BENCH_ONLY=plumbing or photos for one figure)
 *
 * Writes bench/results/grpc.json and prints a table naming the CPU.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { buildTinyModel } from './lib/tiny-model.ts';
import { exampleImages, smallJpegs, v2BytesBody, ROOT, type Image } from './lib/images.ts';
import { closedLoop, LoadClient, type Poster, type PointResult } from './lib/loadgen.ts';
import { GrpcLoadClient, grpcBytesRequest } from './lib/grpc-loadgen.ts';
import { startProc } from './lib/procs.ts';
import { cpuMsOf, processTree } from './lib/proc-cpu.ts';
import { round } from './lib/stats.ts';

const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 6000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const GRPC_CONNECTIONS = Number(process.env.BENCH_GRPC_CONNECTIONS ?? 1);

interface Measured {
  throughput: number;
  p50: number;
  p99: number;
  cpuMsPerRequest: number;
  /** The load generator's own CPU per call (this process: the HTTP or gRPC client), for where the rest went. */
  clientCpuMsPerRequest: number;
  errors: Record<string, number>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(client: Poster, pid: number, minSamples: number): Promise<Measured> {
  const pids = processTree(pid);
  // Every call the loop makes counts, warm-up and drain included: the CPU is read over all of them.
  let calls = 0;
  const counted: Poster = { post: (signal) => client.post(signal).finally(() => void calls++) };
  const cpu0 = cpuMsOf(pids);
  const client0 = process.cpuUsage();
  const p: PointResult = await closedLoop(counted, CONCURRENCY, MEASURE_MS, minSamples);
  const cpuMs = cpuMsOf(pids) - cpu0;
  const clientUs = process.cpuUsage(client0);
  return {
    throughput: p.throughput,
    p50: p.latencyMs.p50,
    p99: p.latencyMs.p99,
    cpuMsPerRequest: cpuMs / Math.max(1, calls),
    clientCpuMsPerRequest: (clientUs.user + clientUs.system) / 1000 / Math.max(1, calls),
    errors: p.errorsByStatus,
  };
}

/** Starts the service (npm start's entry) with gRPC on a free port; returns its REST URL and gRPC address. */
async function startService(name: string, env: Record<string, string>) {
  const proc = await startProc({
    name,
    entry: 'src/main.ts',
    env: { PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', ...env },
  });
  const line = proc.tail.find((l) => /gRPC \(Open Inference Protocol\) on /.test(l)) ?? '';
  const grpc = /gRPC \(Open Inference Protocol\) on (\S+)/.exec(line)?.[1];
  if (!proc.url || !grpc) throw new Error(`no REST URL or gRPC address in: ${proc.tail.join('\n')}`);
  return { proc, url: proc.url, grpc };
}

const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  concurrency: CONCURRENCY,
  measureMs: MEASURE_MS,
  rounds: ROUNDS,
  grpcConnections: GRPC_CONNECTIONS,
};

async function compare(
  figure: string,
  env: Record<string, string>,
  model: string,
  images: Image[],
  minSamples: number,
) {
  const { proc, url, grpc } = await startService(`grpc-bench-${figure}`, env);
  const rest = new LoadClient(url, images.map(v2BytesBody), 256, `/v2/models/${model}/infer`);
  const g = new GrpcLoadClient(
    grpc,
    images.map((img) => grpcBytesRequest(model, img)),
    GRPC_CONNECTIONS,
  );
  const runs: Record<'rest' | 'grpc', Measured[]> = { rest: [], grpc: [] };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['rest', 'grpc'] as const) : (['grpc', 'rest'] as const);
      for (const which of order) {
        const m = await measure(which === 'rest' ? rest : g, proc.pid, minSamples);
        runs[which].push(m);
        console.log(
          `${figure} round ${r + 1} ${which.padEnd(4)}  ${round(m.throughput, 1)} req/s  p50 ${round(m.p50, 1)} ms  p99 ${round(m.p99, 1)} ms  ${round(m.cpuMsPerRequest, 2)} service CPU ms/req  ${round(m.clientCpuMsPerRequest, 2)} client CPU ms/req  ${JSON.stringify(m.errors)}`,
        );
      }
    }
  } finally {
    await Promise.all([rest.close(), g.close()]);
    await proc.stop();
  }
  const summary = (ms: Measured[]) => ({
    throughput: round(median(ms.map((m) => m.throughput)), 1),
    p50: round(median(ms.map((m) => m.p50)), 1),
    p99: round(median(ms.map((m) => m.p99)), 1),
    cpuMsPerRequest: round(median(ms.map((m) => m.cpuMsPerRequest)), 2),
    clientCpuMsPerRequest: round(median(ms.map((m) => m.clientCpuMsPerRequest)), 2),
  });
  const restS = summary(runs.rest);
  const grpcS = summary(runs.grpc);
  results[figure] = {
    rest: restS,
    grpc: grpcS,
    ratio: {
      throughput: round(grpcS.throughput / restS.throughput, 2),
      cpuMsPerRequest: round(grpcS.cpuMsPerRequest / restS.cpuMsPerRequest, 2),
    },
    runs,
  };
}

const tiny = await buildTinyModel(32);
const repo = await mkdtemp(join(tmpdir(), 'bench-grpc-'));
const tinyDir = join(repo, 'tiny');
await rename(tiny, tinyDir);
const only = process.env.BENCH_ONLY?.split(',');
if (!only || only.includes('plumbing'))
  await compare('plumbing', { MODEL_DIR: tinyDir }, basename(tinyDir), await smallJpegs(64), 100);
if (!only || only.includes('photos'))
  await compare('photos', { MODEL_DIR: join(ROOT, 'models/default') }, 'default', exampleImages(), 30);

await rm(repo, { recursive: true, force: true });
await writeFile(join(ROOT, 'bench/results/grpc.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nCPU: ${results.cpu} (${results.cores} cores), ${CONCURRENCY} in flight, medians of ${ROUNDS} rounds`);
console.log(
  '| figure | REST /v2 binary req/s (p50 / p99 ms) | gRPC req/s (p50 / p99 ms) | gRPC / REST throughput | service CPU ms/req REST → gRPC | client CPU ms/req REST → gRPC |',
);
for (const figure of ['plumbing', 'photos'].filter((f) => f in results)) {
  const r = results[figure] as {
    rest: Measured;
    grpc: Measured;
    ratio: { throughput: number; cpuMsPerRequest: number };
  };
  console.log(
    `| ${figure} | ${r.rest.throughput} (${r.rest.p50} / ${r.rest.p99}) | ${r.grpc.throughput} (${r.grpc.p50} / ${r.grpc.p99}) | ${r.ratio.throughput}× | ${r.rest.cpuMsPerRequest} → ${r.grpc.cpuMsPerRequest} (${r.ratio.cpuMsPerRequest}×) | ${r.rest.clientCpuMsPerRequest} → ${r.grpc.clientCpuMsPerRequest} |`,
  );
}
console.log('wrote bench/results/grpc.json');
