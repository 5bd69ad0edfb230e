/**
 * The one launcher of the project's own entry points as child processes (`node --import tsx <entry>`, or its
 * build in dist/ with `built`), for the tests (test/helpers/processes.ts) and the benchmarks (bench/lib/procs.ts):
 * output kept line by line (JSON log lines parsed), waits on a line, exit as a promise, a graceful stop that ends
 * in SIGKILL, and a registry of everything still running so that nothing outlives its test file or benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { PROJECT_DIR } from '../../src/config/deployment.ts';
import { MALLOC_ARENA_MAX_FOR_HOSTS, UV_THREADPOOL_FOR_HOSTS } from '../../src/config/uv-threads.ts';
import { nodeArgsFor } from '../../src/build/layout.ts';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface LaunchOptions {
  name: string;
  /** TypeScript entry, relative to the project root. */
  entry: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Node options before the entry (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Run its compiled JavaScript in dist/ (as `npm start` and PM2 do) instead of the source through tsx. */
  built?: boolean;
  /** An IPC channel (process.send('ready') as under PM2). */
  ipc?: boolean;
  /** Its own process group: stop() and killAll() then also end what it started (a private redis-server). */
  group?: boolean;
}

export interface Launched {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Started in its own process group (LaunchOptions.group). */
  readonly group: boolean;
  /** Parsed JSON log lines so far (stdout and stderr). */
  readonly logs: LogLine[];
  /** Non-JSON output (start-up failures, crashes). */
  readonly text: string[];
  /** The last 40 lines of any kind, for error messages. */
  readonly tail: string[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Calls `fn` for every later line; returns the unsubscribe. */
  onLine(fn: (raw: string, json: LogLine | undefined) => void): () => void;
  /** The first line (seen or later) that `match` accepts; rejects after timeoutMs or if the process exits first. */
  waitForLine(
    match: (raw: string, json: LogLine | undefined) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL (the whole group with `group`) if it has not exited after graceMs. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** Resident set size in bytes (from /proc), or 0 once gone. */
  rss(): number;
}

const running = new Set<Launched>();

export function rssBytesOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // gone
  }
}

export function launch(opts: LaunchOptions): Launched {
  const group = opts.group ?? false;
  const proc = spawn(process.execPath, nodeArgsFor(opts.entry, opts.built ?? false, opts.nodeArgs), {
    cwd: PROJECT_DIR,
    // Model hosts need more libuv threads than the default 4, and fewer malloc arenas (src/config/uv-threads.ts).
    env: {
      UV_THREADPOOL_SIZE: String(UV_THREADPOOL_FOR_HOSTS),
      MALLOC_ARENA_MAX: String(MALLOC_ARENA_MAX_FOR_HOSTS),
      ...process.env,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.ipc ? ['ipc' as const] : [])],
    detached: group,
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`${opts.name}: could not start ${opts.entry}`);
  const logs: LogLine[] = [];
  const text: string[] = [];
  const tail: string[] = [];
  const seen: Array<[string, LogLine | undefined]> = [];
  const listeners = new Set<(raw: string, json: LogLine | undefined) => void>();
  const onRaw = (raw: string) => {
    if (!raw.trim()) return;
    tail.push(raw);
    if (tail.length > 40) tail.shift();
    let json: LogLine | undefined;
    if (raw.startsWith('{')) {
      try {
        json = JSON.parse(raw) as LogLine;
      } catch {
        // not JSON after all
      }
    }
    if (json) logs.push(json);
    else text.push(raw);
    seen.push([raw, json]);
    for (const fn of listeners) fn(raw, json);
  };
  if (proc.stdout) createInterface({ input: proc.stdout }).on('line', onRaw);
  if (proc.stderr) createInterface({ input: proc.stderr }).on('line', onRaw);
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  const alive = () => proc.exitCode === null && proc.signalCode === null;

  let stopping: Promise<void> | undefined;
  const launched: Launched = {
    name: opts.name,
    proc,
    pid,
    group,
    logs,
    text,
    tail,
    exited,
    onLine(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    waitForLine(match, timeoutMs, what) {
      const found = seen.find(([raw, json]) => match(raw, json));
      if (found) return Promise.resolve(found[0]);
      return new Promise((resolve, reject) => {
        let settled = false;
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          off();
          fn();
        };
        const timer = setTimeout(
          () =>
            settle(() =>
              reject(
                new Error(`${opts.name}: no ${what} after ${timeoutMs} ms; output:\n${tail.join('\n').slice(-2000)}`),
              ),
            ),
          timeoutMs,
        );
        const off = launched.onLine((raw, json) => {
          if (match(raw, json)) settle(() => resolve(raw));
        });
        void exited.then((code) =>
          settle(() =>
            reject(new Error(`${opts.name} exited (${code}) before ${what}:\n${tail.join('\n').slice(-2000)}`)),
          ),
        );
      });
    },
    kill(sig = 'SIGTERM') {
      if (alive()) signal(pid, sig, false);
    },
    stop(graceMs = 20_000) {
      stopping ??= (async () => {
        if (alive()) {
          signal(pid, 'SIGTERM', false);
          const force = setTimeout(() => signal(pid, 'SIGKILL', group), graceMs);
          await exited;
          clearTimeout(force);
        }
        // Whatever it started and left behind goes with its group.
        if (group) signal(pid, 'SIGKILL', true);
        running.delete(launched);
      })();
      return stopping;
    },
    rss: () => (alive() ? rssBytesOf(pid) : 0),
  };
  running.add(launched);
  void exited.then(() => {
    if (!group) running.delete(launched);
  });
  return launched;
}

/** SIGKILLs everything launched that still runs (with its group) and waits for the processes themselves. */
export async function killAll(): Promise<void> {
  const all = [...running];
  for (const l of all) signal(l.pid, 'SIGKILL', l.group);
  await Promise.all(all.map((l) => l.exited));
  for (const l of all) running.delete(l);
}

/** For scripts that may be interrupted (benchmarks): kill everything launched when this process exits. */
export function killAllOnExit(): void {
  process.on('exit', () => {
    for (const l of running) signal(l.pid, 'SIGKILL', l.group);
  });
}
