/**
 * The systems the load benchmark compares, each started fresh and stopped after its points: the service
 * (npm start's entry) with each engine, the naive node:http servers (one process and one per core), the
 * plumbing ceiling (trivial model, small JPEGs), and the multi-process shapes (standalone model hosts and a
 * front end against one private redis).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../src/system/ports.ts';
import { startBenchRedis, startProc, type Proc } from './procs.ts';

export interface Running {
  url: string;
  /** Processes whose debug 'batch' lines tell the batch sizes formed (model hosts). */
  hosts: Proc[];
  /** Processes whose RSS is reported (the service's). */
  all: Proc[];
  stop(): Promise<void>;
}

export const cores = availableParallelism();

/** `npm start`: redis-server + one model host + one front end in one process. */
export async function startService(name: string, env: Record<string, string>, nodeArgs?: string[]): Promise<Running> {
  const p = await startProc({ name, entry: 'src/main.ts', env: { PORT: '0', LOG_LEVEL: 'debug', ...env }, nodeArgs });
  return { url: p.url!, hosts: [p], all: [p], stop: () => p.stop() };
}

/** A naive server; workers > 1 runs node:cluster with that many processes. */
export async function startNaive(
  name: string,
  engine: 'onnx' | 'tfjs',
  workers: number,
  env: Record<string, string> = {},
): Promise<Running> {
  const port = workers > 1 ? await freePort() : 0;
  // ONNX Runtime's own default is one intra-op thread per core: give the single process all cores, each
  // cluster worker one (what a user gets by tuning it sensibly).
  const intra = String(workers > 1 ? 1 : cores);
  const p = await startProc({
    name,
    entry: `bench/naive/server-${engine}.ts`,
    env: { PORT: String(port), WORKERS: String(workers), INTRA_OP_THREADS: intra, ...env },
  });
  return { url: p.url!, hosts: [], all: [p], stop: () => p.stop() };
}

/** Standalone processes against one private redis: `hosts` model hosts (src/host/main.ts) and one front end. */
export async function startSplit(
  name: string,
  hosts: number,
  hostEnv: Record<string, string>,
  env: Record<string, string> = {},
): Promise<Running> {
  const redis = await startBenchRedis();
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await p.stop();
    await redis.stop();
  };
  try {
    const hostProcs = await Promise.all(
      Array.from({ length: hosts }, (_, i) =>
        startProc({
          name: `${name}-host${i}`,
          entry: 'src/host/main.ts',
          readyPattern: /model host ready/,
          env: { REDIS_URL: redis.url, LOG_LEVEL: 'debug', ...env, ...hostEnv },
        }),
      ),
    );
    procs.push(...hostProcs);
    const port = await freePort();
    const fe = await startProc({
      name: `${name}-frontend`,
      entry: 'src/frontend/main.ts',
      readyPattern: /front end listening/,
      env: { REDIS_URL: redis.url, PORT: String(port), LOG_LEVEL: 'info', ...env },
    });
    procs.push(fe);
    return { url: `http://127.0.0.1:${port}`, hosts: hostProcs, all: [...procs], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * `npm start` of another checkout of this project (an earlier commit, unpacked with `git archive`), run as that
 * commit's npm start ran it: `node --import tsx src/main.ts` before the build existed, else its dist/ entry.
 */
export async function startServiceAt(
  dir: string,
  name: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<Running> {
  const built = existsSync(join(dir, 'dist', 'src', 'main.js'));
  const entry = built ? [join(dir, 'dist', 'src', 'main.js')] : ['--import', 'tsx', join(dir, 'src', 'main.ts')];
  const args = [...nodeArgs, ...entry];
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: { ...process.env, UV_THREADPOOL_SIZE: '64', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid!;
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // gone
    }
  };
  process.on('exit', () => kill('SIGKILL'));
  const exited = once(child, 'exit');
  const tail: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not serving after 120 s`)), 120_000);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        const m = /serving on (http:\/\/[^\s"]+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    }
    child.once('exit', () => reject(new Error(`${name}: exited before serving:\n${tail.join('\n')}`)));
  });
  const lines = new Set<(raw: string) => void>();
  for (const stream of [child.stdout!, child.stderr!])
    createInterface({ input: stream }).on('line', (line) => lines.forEach((fn) => fn(line)));
  const onLine = (fn: (raw: string) => void) => {
    lines.add(fn);
    return () => lines.delete(fn);
  };
  const proc = { name, pid, batches: [], tail, child, onLine } as unknown as Proc;
  const stop = async () => {
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  return { url, hosts: [proc], all: [proc], stop };
}
