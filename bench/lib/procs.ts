/**
 * Child processes of the benchmarks: the service (npm start's entry), standalone model hosts and front ends,
 * the naive servers. Each runs in its own process group so that stopping it also stops what it started (the
 * service's private redis-server); everything still running is killed when the benchmark exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ROOT } from './images.ts';

export interface BatchLine {
  t: number;
  size: number;
  inferenceMs: number;
  formingMs: number;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Batches logged by this process (LOG_LEVEL=debug model hosts). */
  batches: BatchLine[];
  /** Last lines of output, for error messages. */
  tail: string[];
  /** The URL it printed ("serving on http://..."), once it did. */
  url?: string;
  rssMiB(): number;
  stop(): Promise<void>;
}

const live = new Set<Proc>();

function killAll(): void {
  for (const p of live) {
    try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

export function rssMiBOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export interface StartOptions {
  name: string;
  /** TypeScript entry, relative to the project root. */
  entry: string;
  env?: Record<string, string>;
  /** Resolve when a line matches this (default: the "serving on http://" line). */
  readyPattern?: RegExp;
  readyTimeoutMs?: number;
  ipc?: boolean;
}

export async function startProc(opts: StartOptions): Promise<Proc> {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is passed to the children, for profiling.
  const extra = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', opts.entry], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.ipc ? ['ipc' as const] : [])],
    detached: true,
  });
  const proc: Proc = {
    name: opts.name,
    child,
    pid: child.pid!,
    batches: [],
    tail: [],
    rssMiB: () => rssMiBOf(child.pid!),
    stop: async () => {},
  };
  live.add(proc);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  proc.stop = () => (stopping ??= (async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid!, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 20_000);
      await exited;
      clearTimeout(timer);
    }
    // Whatever it started and left behind (its redis-server) goes with the group.
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    live.delete(proc);
  })());

  const pattern = opts.readyPattern ?? /serving on (http:\/\/[^\s]+)/;
  const ready = new Promise<void>((resolve, reject) => {
    const onLine = (line: string) => {
      proc.tail.push(line);
      if (proc.tail.length > 40) proc.tail.shift();
      if (line.includes('"msg":"batch"')) {
        try {
          const j = JSON.parse(line) as { size: number; inferenceMs: number; formingMs: number };
          proc.batches.push({ t: Date.now(), size: j.size, inferenceMs: j.inferenceMs, formingMs: j.formingMs });
        } catch { /* not JSON */ }
        return;
      }
      const m = pattern.exec(line);
      if (m) {
        if (m[1]) proc.url = m[1];
        resolve();
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => reject(new Error(`${opts.name} exited with ${code} before it was ready:\n${proc.tail.join('\n')}`)));
  });
  const timeout = opts.readyTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([ready, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${opts.name} not ready after ${timeout} ms:\n${proc.tail.join('\n')}`)), timeout); })]);
  } catch (err) {
    await proc.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return proc;
}

import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';

const redises = new Set<EmbeddedRedis>();
process.on('exit', () => {
  for (const r of redises) r.process.kill('SIGKILL');
});

/** A private redis-server owned by the benchmark process (killed with it). */
export async function startBenchRedis(): Promise<EmbeddedRedis> {
  const r = await startEmbeddedRedis();
  redises.add(r);
  const stop = r.stop;
  return { ...r, stop: async () => { await stop(); redises.delete(r); } };
}
