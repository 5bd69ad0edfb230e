/**
 * Child processes of the benchmarks: the service (npm start's entry), standalone model hosts and front ends,
 * the naive servers. Each runs in its own process group so that stopping it also stops what it started (the
 * service's private redis-server); everything still running is killed when the benchmark exits.
 */
import type { ChildProcess } from 'node:child_process';
import { killAllOnExit, launch, rssBytesOf } from '../../scripts/lib/launch.ts';
import { buildIfStale } from '../../scripts/build.ts';
import { buildRoots } from '../../src/build/stamp.ts';

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
  /** Calls `fn` with every later line of its output; returns the unsubscribe. */
  onLine(fn: (raw: string) => void): () => void;
  stop(): Promise<void>;
}

killAllOnExit();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => process.exit(130)); // the exit handler kills what was launched
}

export function rssMiBOf(pid: number): number {
  const bytes = rssBytesOf(pid);
  return bytes > 0 ? bytes / (1024 * 1024) : NaN;
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
  /**
   * Run the compiled entry in dist/ as production does (built first when stale): the default for the project's
   * own entries; benchmark-only entries (bench/) are not compiled and run under tsx.
   */
  built?: boolean;
  /** Node options for this process (after BENCH_NODE_ARGS). */
  nodeArgs?: string[];
}

export async function startProc(opts: StartOptions): Promise<Proc> {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is passed to the children, for profiling.
  const nodeArgs = [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(opts.nodeArgs ?? [])];
  // Its own process group: stopping it also stops what it started (the service's private redis-server).
  const built = opts.built ?? buildRoots().some((root) => opts.entry.startsWith(`${root}/`));
  if (built) buildIfStale();
  // No gRPC unless a benchmark asks for it: its default port would collide between runs side by side.
  const env = { GRPC_PORT: 'off', ...opts.env };
  const launched = launch({ name: opts.name, entry: opts.entry, env, nodeArgs, ipc: opts.ipc, group: true, built });
  const proc: Proc = {
    name: opts.name,
    child: launched.proc,
    pid: launched.pid,
    batches: [],
    tail: launched.tail,
    rssMiB: () => rssMiBOf(launched.pid),
    onLine: (fn) => launched.onLine((raw) => fn(raw)),
    stop: () => launched.stop(20_000),
  };
  launched.onLine((_, json) => {
    if (json?.msg !== 'batch') return;
    const j = json as unknown as { size: number; inferenceMs: number; formingMs: number };
    proc.batches.push({ t: Date.now(), size: j.size, inferenceMs: j.inferenceMs, formingMs: j.formingMs });
  });
  const pattern = opts.readyPattern ?? /serving on (http:\/\/[^\s]+)/;
  try {
    const line = await launched.waitForLine((raw) => pattern.test(raw), opts.readyTimeoutMs ?? 120_000, 'ready line');
    const url = pattern.exec(line)?.[1];
    if (url) proc.url = url;
  } catch (err) {
    await proc.stop();
    throw err;
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
  return {
    ...r,
    stop: async () => {
      await stop();
      redises.delete(r);
    },
  };
}
