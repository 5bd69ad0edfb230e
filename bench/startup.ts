/**
 * Start-up of `npm start` (src/main.ts, one model): the compiled build in dist/ against the same sources under
 * tsx, rounds alternated in one run. Per round: wall time from spawn to the first /readyz 200, CPU seconds the
 * process tree spent until then, RSS of every process in the tree at ready and after 20 classifications, and the
 * processes it runs (esbuild helpers under tsx).
 *
 *   node --import tsx bench/startup.ts [rounds=3]          writes startup.json (bench/results/ with BENCH_SAVE=1)
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildIfStale } from '../scripts/build.ts';
import { killAllOnExit, launch, rssBytesOf } from '../scripts/lib/launch.ts';
import { PROJECT_DIR } from '../src/build/layout.ts';
import { freePort } from '../src/system/ports.ts';
import { processTree } from '../src/system/processes.ts';
import { round, summarize } from './lib/stats.ts';
import { saveResults } from './lib/results.ts';

killAllOnExit();
const rounds = Number(process.argv[2] ?? 3);
const image = readFileSync(join(PROJECT_DIR, 'examples/chelsea.png'));
const TICK = 100; // clock ticks per second in /proc/<pid>/stat (USER_HZ on Linux)

/** CPU seconds of a process, its own plus its reaped children's (/proc/<pid>/stat fields 14–17). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0) / TICK;
  } catch {
    return 0;
  }
}

const commOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
};

function tree(pid: number) {
  const pids = processTree(pid);
  const mib = pids.reduce((sum, p) => sum + rssBytesOf(p), 0) / (1024 * 1024);
  const names: Record<string, number> = {};
  for (const p of pids) names[commOf(p)] = (names[commOf(p)] ?? 0) + 1;
  return { rssMiB: mib, cpuS: pids.reduce((sum, p) => sum + cpuSeconds(p), 0), processes: names };
}

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function startOnce(built: boolean) {
  const port = await freePort();
  const started = performance.now();
  const svc = launch({
    name: built ? 'built' : 'tsx',
    entry: 'src/main.ts',
    built,
    group: true,
    env: { PORT: String(port), MODELS: 'default', LOG_LEVEL: 'warn' },
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    while ((await status(`${base}/readyz`)) !== 200) {
      if (svc.proc.exitCode !== null) throw new Error(`exited before ready:\n${svc.tail.join('\n')}`);
      if (performance.now() - started > 120_000) throw new Error('not ready after 120 s');
      await sleep(20);
    }
    const readyMs = performance.now() - started;
    const atReady = tree(svc.pid);
    for (let i = 0; i < 20; i++) {
      const form = new FormData();
      form.append('image', new Blob([image], { type: 'image/png' }), 'chelsea.png');
      const res = await fetch(`${base}/predict`, { method: 'POST', body: form });
      if (res.status !== 200) throw new Error(`/predict answered ${res.status}: ${await res.text()}`);
    }
    const afterRequests = tree(svc.pid);
    return {
      readyMs,
      readyCpuS: atReady.cpuS,
      rssAtReadyMiB: atReady.rssMiB,
      rssAfter20MiB: afterRequests.rssMiB,
      processes: atReady.processes,
    };
  } finally {
    await svc.stop(20_000);
  }
}

buildIfStale();
const samples: Record<'tsx' | 'built', Awaited<ReturnType<typeof startOnce>>[]> = { tsx: [], built: [] };
for (let r = 0; r < rounds; r++) {
  for (const mode of ['tsx', 'built'] as const) {
    const s = await startOnce(mode === 'built');
    samples[mode].push(s);
    console.log(
      `${mode} round ${r + 1}: ready ${round(s.readyMs, 0)} ms, ${round(s.readyCpuS, 2)} CPU s, RSS ${round(s.rssAtReadyMiB, 0)} MiB at ready, ${round(s.rssAfter20MiB, 0)} after 20 requests; ${JSON.stringify(s.processes)}`,
    );
  }
}
const median = (mode: 'tsx' | 'built', key: 'readyMs' | 'readyCpuS' | 'rssAtReadyMiB' | 'rssAfter20MiB') =>
  round(summarize(samples[mode].map((s) => s[key])).p50, 2);
const summary = Object.fromEntries(
  (['tsx', 'built'] as const).map((m) => [
    m,
    {
      readyMs: median(m, 'readyMs'),
      readyCpuS: median(m, 'readyCpuS'),
      rssAtReadyMiB: median(m, 'rssAtReadyMiB'),
      rssAfter20MiB: median(m, 'rssAfter20MiB'),
      processes: samples[m][0]?.processes,
    },
  ]),
);
const result = {
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  node: process.version,
  rounds,
  summary,
  samples,
  at: new Date().toISOString(),
};
saveResults('startup.json', result);
console.log(JSON.stringify({ cpu: result.cpu, summary }, null, 2));
