/**
 * Fault-test fixtures: the model host and the front end as real child processes (`node --import tsx
 * src/host/main.ts` / `src/frontend/main.ts`), so a test can SIGKILL, SIGSTOP or SIGTERM them. Each child's
 * JSON log lines are kept for assertions. Register `killAll()` in after(): no child outlives its test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { pino } from 'pino';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

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

const children = new Set<Child>();

export function spawnService(name: string, entry: 'src/host/main.ts' | 'src/frontend/main.ts', env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', PREPROCESS_THREADS: '1', INTRA_OP_THREADS: '1', MODEL_DIR: 'models/default', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const text: string[] = [];
  const watchers = new Set<(line: LogLine) => void>();
  const onData = (() => {
    let rest = '';
    return (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      for (const raw of lines) {
        if (!raw.trim()) continue;
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          text.push(raw);
          continue;
        }
        logs.push(line);
        for (const w of watchers) w(line);
      }
    };
  })();
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const child: Child = {
    name,
    proc,
    pid: proc.pid!,
    logs,
    text,
    exited,
    waitForLog(match, timeoutMs = 30_000) {
      const seen = logs.find((l) => match.test(l.msg));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(watch);
          reject(new Error(`${name}: no log line matching ${match} after ${timeoutMs} ms; output: ${text.join('\n').slice(-2000)}`));
        }, timeoutMs);
        const watch = (line: LogLine) => {
          if (!match.test(line.msg)) return;
          clearTimeout(timer);
          watchers.delete(watch);
          resolve(line);
        };
        watchers.add(watch);
        void exited.then((code) => {
          if (!watchers.has(watch)) return;
          clearTimeout(timer);
          watchers.delete(watch);
          reject(new Error(`${name} exited (${code}) before logging ${match}: ${text.join('\n').slice(-2000)}`));
        });
      });
    },
    kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    rss() {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
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
export async function startFrontendProcess(name: string, env: Record<string, string>): Promise<{ child: Child; url: string }> {
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
  const running = [...children];
  for (const c of running) c.kill('SIGKILL');
  await Promise.all(running.map((c) => c.exited));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until check() is truthy; rejects after timeoutMs. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
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
