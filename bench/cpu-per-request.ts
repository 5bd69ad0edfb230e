import { cpus } from 'node:os';
import { exampleImages, multipartBody, smallJpegs, type Image } from './lib/images.ts';
import { LoadClient } from './lib/loadgen.ts';
import { perfAvailable, startPerf, type Profile } from './lib/perf-profile.ts';
import { cpuMsOf, processTree } from './lib/proc-cpu.ts';
import { cores, startNaive, startService, type Running } from './lib/systems.ts';
import { saveResults } from './lib/results.ts';

const env = process.env;
const inflight = Number(env.CPU_INFLIGHT ?? 8);
const seconds = Number(env.CPU_SECONDS ?? 10);
const rounds = Number(env.CPU_ROUNDS ?? 3);
const which = env.CPU_IMAGES ?? 'png';
const usePerf = env.CPU_PERF === '1';
if (usePerf && !perfAvailable()) throw new Error('CPU_PERF=1 but `perf record` does not work here (linux-perf?)');

const images: Image[] =
  which === 'small'
    ? await smallJpegs(64)
    : exampleImages().filter((img) => which === 'photos' || img.name.endsWith('.png'));
const bodies = images.map(multipartBody);

const starters: Record<string, () => Promise<Running>> = {
  // npm start's process tree, with its production log level.
  service: () => startService('cpu-service', { LOG_LEVEL: 'info' }),
  plain: () => startNaive('cpu-plain', 'onnx', cores),
};
const names = (env.CPU_SYSTEMS ?? 'service,plain').split(',');

interface Window {
  requests: number;
  ok: number;
  cpuMs: number;
  wallMs: number;
  profile?: Profile;
}

/** `inflight` requests at a time for `ms`; the window closes when the last one is answered. */
async function window(client: LoadClient, pids: number[], ms: number, profile: boolean): Promise<Window> {
  const perf = profile ? startPerf(pids, undefined, env.CPU_PERF_KEEP === '1') : undefined;
  const cpu0 = cpuMsOf(pids);
  const t0 = performance.now();
  let requests = 0;
  let ok = 0;
  const until = t0 + ms;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < until) {
        const r = await client.post();
        requests++;
        if (r.ok) ok++;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpuMs = cpuMsOf(pids) - cpu0;
  return { requests, ok, cpuMs, wallMs, profile: await perf?.stop() };
}

const systems = new Map<string, { run: Running; client: LoadClient; pids: number[]; windows: Window[] }>();
try {
  for (const name of names) {
    const run = await starters[name]!();
    const client = new LoadClient(run.url, bodies, 64);
    systems.set(name, { run, client, pids: [], windows: [] });
  }
  for (const s of systems.values()) {
    await window(s.client, [], 3000, false); // warm-up: JIT, pools, connections
    s.pids = s.run.all.flatMap((p) => processTree(p.pid));
  }
  for (let round = 0; round < rounds; round++) {
    for (const [name, s] of systems) {
      const w = await window(s.client, s.pids, seconds * 1000, usePerf);
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
  const entry: Record<string, unknown> = { cpuMsPerRequest: median(perRequest), rounds: perRequest };
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
const service = summary.service as { cpuMsPerRequest: number } | undefined;
const plain = summary.plain as { cpuMsPerRequest: number } | undefined;
if (service && plain) summary.ratio = round3(service.cpuMsPerRequest / plain.cpuMsPerRequest);
console.log(JSON.stringify(summary, null, 2));
saveResults('cpu-per-request.json', summary);
process.exit(0);

function sum(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
