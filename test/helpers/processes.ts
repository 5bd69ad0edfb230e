/**
 * Fault-test fixtures: the model host and the front end as real child processes (`node --import tsx
 * src/host/main.ts` / `src/frontend/main.ts`), so a test can SIGKILL, SIGSTOP or SIGTERM them. Each child's
 * JSON log lines are kept for assertions. Register `killAll()` in after(): no child outlives its test file.
 */
import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { killAll as killAllLaunched, launch, type LogLine } from '../../scripts/lib/launch.ts';

export type { LogLine };
export { sleep, waitUntil } from '../../scripts/lib/wait.ts';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Parsed JSON log lines so far (stdout and stderr). */
  readonly logs: LogLine[];
  /** Non-JSON output (start-up failures, crashes). */
  readonly text: string[];
  /** Resolves with the first log line matching, or rejects after timeoutMs or if the child exits first. */
  waitForLog(match: RegExp, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
  /** Resident set size in bytes (from /proc), or 0 once gone. */
  rss(): number;
}

export function spawnService(
  name: string,
  entry: 'src/host/main.ts' | 'src/frontend/main.ts',
  env: Record<string, string>,
): Child {
  const launched = launch({
    name,
    entry,
    // GRPC_PORT 0: gRPC's default port would collide between tests running side by side.
    env: {
      LOG_LEVEL: 'info',
      PREPROCESS_THREADS: '1',
      INTRA_OP_THREADS: '1',
      MODEL_DIR: 'models/default',
      GRPC_PORT: '0',
      ...env,
    },
  });
  return {
    name,
    proc: launched.proc,
    pid: launched.pid,
    logs: launched.logs,
    text: launched.text,
    exited: launched.exited,
    async waitForLog(match, timeoutMs = 30_000) {
      const raw = await launched.waitForLine(
        (_, json) => json !== undefined && match.test(json.msg),
        timeoutMs,
        `log line matching ${match}`,
      );
      return JSON.parse(raw) as LogLine;
    },
    kill: (signal) => launched.kill(signal),
    rss: () => launched.rss(),
  };
}

/** A model host child; resolves once it logged 'model host ready'. */
export async function startHostProcess(name: string, env: Record<string, string>): Promise<Child> {
  const child = spawnService(name, 'src/host/main.ts', env);
  try {
    await child.waitForLog(/^model host ready$/, 60_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** A front-end child; resolves with its URL once it logged 'front end listening'. */
export async function startFrontendProcess(
  name: string,
  env: Record<string, string>,
): Promise<{ child: Child; url: string }> {
  const child = spawnService(name, 'src/frontend/main.ts', { PORT: '0', ...env });
  try {
    const line = await child.waitForLog(/^front end listening$/, 30_000);
    return { child, url: `http://127.0.0.1:${line.port as number}` };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

/** SIGKILLs every child still running and waits for them; for after(). */
export async function killAll(): Promise<void> {
  await killAllLaunched();
}

/** An in-process pino logger whose JSON lines are kept in `lines` (for asserting on front-end / host logs). */
export function captureLogger(level = 'debug'): { log: import('pino').Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level }, sink), lines };
}
