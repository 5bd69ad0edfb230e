/**
 * The systems the load benchmark compares, each started fresh and stopped after its points: the service
 * (npm start's entry) with each engine, the naive node:http servers (one process and one per core), the
 * plumbing ceiling (trivial model, small JPEGs), and the multi-process shapes (standalone model hosts and a
 * front end against one private redis).
 */
import { availableParallelism } from 'node:os';
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
export async function startService(name: string, env: Record<string, string>): Promise<Running> {
  const p = await startProc({ name, entry: 'src/main.ts', env: { PORT: '0', LOG_LEVEL: 'debug', ...env } });
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
