/**
 * CPU per classified request, the service against the plain server a Node user would write (node:cluster, sharp
 * and ONNX Runtime inline; bench/naive), in one run with rounds alternated: every process each system runs
 * (the service's private redis-server, the cluster's workers) is counted, from /proc, over a window in which
 * every request sent is also answered. CPU time holds up on a busy machine where throughput does not.
 * With CPU_PERF=1 a perf profile of each window splits that CPU by shared object and by thread (CPU_PERF_KEEP=1
 * keeps the perf.data files; BENCH_NODE_ARGS=--perf-basic-prof names the JIT-compiled functions in them).
 *
 *   node --import tsx bench/cpu-per-request.ts
 *   CPU_IMAGES=png|photos|mixed|small CPU_INFLIGHT=8 CPU_SECONDS=10 CPU_ROUNDS=3 CPU_PERF=1 CPU_SYSTEMS=service,plain
 *
 * Systems: `service` (npm start's process tree, built), `service:<options>` (the same with these Node options and environment, e.g.
 * `service:--max-semi-space-size=64 BODY_POOL_BYTES=0`), `plain`, and `before` (npm start of the checkout in CPU_BEFORE_DIR, e.g.
 * an earlier commit unpacked with git archive). CPU_TRACE_GC=1 counts the services' garbage collections (every
 * thread's heap) per request, from --trace-gc.
 *
 * Prints the summary; with BENCH_SAVE=1 also writes bench/results/cpu-per-request.json.
 */
import { cpus } from 'node:os';
import { exampleImages, largeJpeg, multipartBody, smallJpegs, type Image } from './lib/images.ts';
import { LoadClient } from './lib/loadgen.ts';
import { perfAvailable, startPerf, type Profile } from './lib/perf-profile.ts';
import { cpuMsOf, processTree, rssMiBOf } from './lib/proc-cpu.ts';
import { cores, startNaive, startService, startServiceAt, type Running } from './lib/systems.ts';
import { saveResults } from './lib/results.ts';

const env = process.env;
const inflight = Number(env.CPU_INFLIGHT ?? 8);
const seconds = Number(env.CPU_SECONDS ?? 10);
const rounds = Number(env.CPU_ROUNDS ?? 3);
const which = env.CPU_IMAGES ?? 'png';
const usePerf = env.CPU_PERF === '1';
if (usePerf && !perfAvailable()) throw new Error('CPU_PERF=1 but `perf record` does not work here (linux-perf?)');

// png: the PNG photos (JPEG shrink-on-load favours neither side); photos: all example photos; mixed: the example
// photos and two large JPEGs (1920 px and a 12 MP phone's 4032 px), where shrink-on-load matters; small: 64² JPEGs.
const images: Image[] =
  which === 'small'
    ? await smallJpegs(64)
    : which === 'mixed'
      ? [...exampleImages(), await largeJpeg(1920), await largeJpeg(4032)]
      : exampleImages().filter((img) => which === 'photos' || img.name.endsWith('.png'));
const bodies = images.map(multipartBody);

const traceGc = env.CPU_TRACE_GC === '1';
/** Node options of a service variant: its own flags, and --trace-gc when GCs are counted. */
const nodeArgs = (flags: string) => [...flags.split(' '), traceGc ? '--trace-gc' : ''].filter(Boolean);

function start(spec: string): Promise<Running> {
  // npm start's process tree, with its production log level.
  const serviceEnv = { LOG_LEVEL: 'info' };
  if (spec === 'plain') return startNaive('cpu-plain', 'onnx', cores);
  if (spec === 'before') {
    if (!env.CPU_BEFORE_DIR) throw new Error('the system "before" needs CPU_BEFORE_DIR');
    return startServiceAt(env.CPU_BEFORE_DIR, 'cpu-before', serviceEnv, nodeArgs(''));
  }
  const [kind, options = ''] = spec.split(/:(.*)/s);
  if (kind !== 'service') throw new Error(`unknown system ${spec}`);
  // `--flag` words are Node options, `NAME=value` words the service's environment.
  const words = options.split(' ').filter(Boolean);
  const variantEnv = Object.fromEntries(words.filter((w) => !w.startsWith('--')).map((w) => w.split(/=(.*)/s)));
  const flags = words.filter((w) => w.startsWith('--')).join(' ');
  return startService('cpu-service', { ...serviceEnv, ...variantEnv }, nodeArgs(flags));
}
const names = (env.CPU_SYSTEMS ?? 'service,plain').split(',');

/** Garbage collections seen in --trace-gc lines: of the main thread's heap, and of the worker threads' heaps. */
interface GcCount {
  scavenges: number;
  markCompacts: number;
  mainMarkCompacts: number;
  pauseMs: number;
}
const GC_LINE =
  /^\[\d+:(0x[0-9a-f]+)\]\s+\d+ ms: (Scavenge|Mark-Compact|Minor Mark-Compact|Mark-Compact \(reduce\))\b.*?, ([\d.]+) \/ [\d.]+ ms/;
/** The main isolate is allocated with the process's heap (low addresses); workers' in mmap space (0x7f...). */
const isMainIsolate = (address: string) => BigInt(address) < 0x7f0000000000n;
function countGcs(run: Running): { counts: GcCount; stop(): void } {
  const counts: GcCount = { scavenges: 0, markCompacts: 0, mainMarkCompacts: 0, pauseMs: 0 };
  const offs = run.all.map((p) =>
    p.onLine?.((raw) => {
      const m = GC_LINE.exec(raw);
      if (!m) return;
      if (m[2] === 'Scavenge' || m[2] === 'Minor Mark-Compact') counts.scavenges++;
      else {
        counts.markCompacts++;
        if (isMainIsolate(m[1]!)) counts.mainMarkCompacts++;
      }
      counts.pauseMs += Number(m[3]);
    }),
  );
  return { counts, stop: () => offs.forEach((off) => off?.()) };
}

interface Window {
  requests: number;
  ok: number;
  cpuMs: number;
  wallMs: number;
  profile?: Profile;
  gc?: GcCount;
  /** Resident memory of the system's processes at the window's end. */
  rssMiB: number;
  /** Each request's latency at the client, ms. */
  latencies: number[];
  /** The service's own decode + inference ms per request (its access lines: preprocessMs + inferenceMs). */
  workMs: number[];
  /** Each request's latency minus its own decode and inference (the service's time around them). */
  overheads: number[];
}

/** The decode and inference ms the service's access lines report for /predict, by request id. */
function stageTimes(run: Running): { ms: Map<string, number>; stop(): void } {
  const ms = new Map<string, number>();
  const offs = run.all.map((p) =>
    p.onLine?.((raw) => {
      if (!raw.startsWith('{') || !raw.includes('"request done"')) return;
      const line = JSON.parse(raw) as { reqId?: string; route?: string; preprocessMs?: number; inferenceMs?: number };
      if (line.route === '/predict' && line.reqId && line.preprocessMs !== undefined && line.inferenceMs !== undefined)
        ms.set(line.reqId, line.preprocessMs + line.inferenceMs);
    }),
  );
  return { ms, stop: () => offs.forEach((off) => off?.()) };
}

let requestIds = 0;

async function window(run: Running, client: LoadClient, pids: number[], ms: number, profile: boolean): Promise<Window> {
  const perf = profile ? startPerf(pids, undefined, env.CPU_PERF_KEEP === '1') : undefined;
  const gcs = traceGc ? countGcs(run) : undefined;
  const work = stageTimes(run);
  const cpu0 = cpuMsOf(pids);
  const t0 = performance.now();
  let requests = 0;
  let ok = 0;
  const latencies: number[] = [];
  const byId = new Map<string, number>();
  const until = t0 + ms;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < until) {
        const id = `cpu-bench-${++requestIds}`;
        const sent = performance.now();
        const r = await client.post(undefined, id);
        const latency = performance.now() - sent;
        latencies.push(latency);
        if (r.ok) byId.set(id, latency);
        requests++;
        if (r.ok) ok++;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpuMs = cpuMsOf(pids) - cpu0;
  gcs?.stop();
  // The last access lines may still be on their way.
  await new Promise((resolve) => setTimeout(resolve, 200));
  work.stop();
  const rssMiB = rssMiBOf(pids);
  // Each request's latency beside its own decode and inference, matched by request id.
  const workMs: number[] = [];
  const overheads: number[] = [];
  for (const [id, latency] of byId) {
    const w = work.ms.get(id);
    if (w === undefined) continue;
    workMs.push(w);
    overheads.push(latency - w);
  }
  return {
    requests,
    ok,
    cpuMs,
    wallMs,
    profile: await perf?.stop(),
    gc: gcs?.counts,
    rssMiB,
    latencies,
    workMs,
    overheads,
  };
}

const systems = new Map<string, { run: Running; client: LoadClient; pids: number[]; windows: Window[] }>();
try {
  for (const name of names) {
    const run = await start(name);
    const client = new LoadClient(run.url, bodies, 64);
    systems.set(name, { run, client, pids: [], windows: [] });
  }
  for (const s of systems.values()) {
    await window(s.run, s.client, [], 3000, false); // warm-up: JIT, pools, connections
    s.pids = s.run.all.flatMap((p) => processTree(p.pid));
  }
  for (let round = 0; round < rounds; round++) {
    for (const [name, s] of systems) {
      const w = await window(s.run, s.client, s.pids, seconds * 1000, usePerf);
      s.windows.push(w);
      const perReq = w.cpuMs / w.ok;
      console.log(
        `round ${round + 1} ${name}: ${w.ok}/${w.requests} ok, ${((1000 * w.ok) / w.wallMs).toFixed(1)} req/s, ` +
          `${perReq.toFixed(2)} ms CPU per request`,
      );
    }
  }
} finally {
  for (const s of systems.values()) {
    await s.client.close();
    await s.run.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary: Record<string, unknown> = {
  cpu: cpus()[0]?.model,
  images: images.map((i) => i.name),
  inflight,
  seconds,
  rounds,
};
for (const [name, s] of systems) {
  const perRequest = s.windows.map((w) => w.cpuMs / w.ok);
  const all = (pick: (w: Window) => number[]) => s.windows.flatMap(pick);
  const entry: Record<string, unknown> = {
    cpuMsPerRequest: median(perRequest),
    rounds: perRequest,
    maxRssMiB: Math.round(Math.max(...s.windows.map((w) => w.rssMiB))),
    latencyP50Ms: round3(median(all((w) => w.latencies))),
    throughputRps: round3(median(s.windows.map((w) => (1000 * w.ok) / w.wallMs))),
  };
  if (all((w) => w.workMs).length > 0) entry.decodePlusInferenceP50Ms = round3(median(all((w) => w.workMs)));
  if (all((w) => w.overheads).length > 0) entry.overheadP50Ms = round3(median(all((w) => w.overheads)));
  const gcWindows = s.windows.filter((w) => w.gc);
  if (gcWindows.length > 0) {
    const ok = gcWindows.reduce((n, w) => n + w.ok, 0);
    const total = (pick: (g: GcCount) => number) => gcWindows.reduce((n, w) => n + pick(w.gc!), 0);
    entry.gc = {
      scavengesPer1000: round3((1000 * total((g) => g.scavenges)) / ok),
      markCompactsPer1000: round3((1000 * total((g) => g.markCompacts)) / ok),
      mainThreadMarkCompactsPer1000: round3((1000 * total((g) => g.mainMarkCompacts)) / ok),
      pauseMsPerRequest: round3(total((g) => g.pauseMs) / ok),
    };
  }
  const profiles = s.windows.flatMap((w) => (w.profile ? [{ p: w.profile, ok: w.ok }] : []));
  if (profiles.length > 0) {
    const per = (pick: (p: Profile) => Map<string, number>) => {
      const sums = new Map<string, number>();
      let ok = 0;
      for (const { p, ok: n } of profiles) {
        ok += n;
        for (const [k, v] of pick(p)) sums.set(k, (sums.get(k) ?? 0) + v);
      }
      return Object.fromEntries([...sums].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round3(v / ok)]));
    };
    const ok = profiles.reduce((n, x) => n + x.ok, 0);
    const sampled = profiles.reduce((n, x) => n + sum(x.p.byCategory), 0) / ok;
    const work = profiles.reduce((n, x) => n + x.p.workMs, 0) / ok;
    entry.profile = {
      sampledMsPerRequest: round3(sampled),
      workMsPerRequest: round3(work),
      overheadMsPerRequest: round3(sampled - work),
      byCategory: per((p) => p.byCategory),
      byThread: per((p) => p.byRole),
    };
  }
  summary[name] = entry;
}
const plain = summary.plain as { cpuMsPerRequest: number } | undefined;
for (const name of systems.keys()) {
  const entry = summary[name] as { cpuMsPerRequest: number; ratioToPlain?: number };
  if (plain && name !== 'plain') entry.ratioToPlain = round3(entry.cpuMsPerRequest / plain.cpuMsPerRequest);
  // Wall-clock: only meaningful on an idle machine (CPU per request is the figure that holds up on a busy one).
  const rps = (summary[name] as { throughputRps: number }).throughputRps;
  if (plain && name !== 'plain')
    (entry as Record<string, unknown>).throughputToPlain = round3(
      rps / (plain as unknown as { throughputRps: number }).throughputRps,
    );
}
console.log(JSON.stringify(summary, null, 2));
saveResults('cpu-per-request.json', summary);
process.exit(0);

function sum(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
