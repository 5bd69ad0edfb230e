/**
 * nginx in front of a benchmark system, as `npm run prod:up` runs it: the configuration rendered from
 * nginx/*.template by scripts/nginx-render.ts into a temporary prefix, nginx started unprivileged from it
 * (`nginx -p <prefix>/ -c conf/nginx.conf -e logs/error.log`) on a free port, and stopped with `-s quit`
 * (graceful), then SIGKILL for the master and its workers if they are still there. Whatever is still running
 * when the benchmark process exits is killed then.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadDeploymentConfig } from '../../src/config/deployment.ts';
import { freePort } from '../../src/system/ports.ts';
import { alive, childrenOf } from '../../src/system/processes.ts';
import { nginxSettingsFromEnv, writeNginxConf } from '../../scripts/nginx-render.ts';
import { rssMiBOf, type Proc } from './procs.ts';
import type { Running } from './systems.ts';

const NGINX_BIN = loadDeploymentConfig().nginxBin;

export interface RunningNginx {
  url: string;
  prefix: string;
  /** The master's pid. */
  pid: number;
  /** RSS of the master and its workers, MiB. */
  rssMiB(): number;
  stop(): Promise<void>;
}

function killHard(pid: number): void {
  // Workers first found, then the master: a SIGKILLed master leaves its workers running.
  for (const p of [...childrenOf(pid), pid]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) killHard(pid);
});

function run(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NGINX_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * nginx on 127.0.0.1:<free port> proxying to the front end(s) on 127.0.0.1:upstreamPort, with the project's own
 * configuration (same upstream block, keep-alive, buffering, rate-limit zone, JSON access log).
 */
export async function startNginxInFront(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<RunningNginx> {
  const prefix = await mkdtemp(join(tmpdir(), 'bench-nginx-'));
  // Started by root, the workers run as nobody: they must be able to reach temp/ inside the prefix.
  await chmod(prefix, 0o755);
  const port = await freePort();
  const settings = nginxSettingsFromEnv(prefix, {
    ...process.env,
    HOST: upstreamHost,
    PORT: String(upstreamPort),
    NGINX_HOST: '127.0.0.1',
    NGINX_PORT: String(port),
    NGINX_UPSTREAMS: '',
    // REST only: nginx's gRPC port would collide between benchmark runs side by side.
    GRPC_PORT: 'off',
    NGINX_WORKERS: process.env.BENCH_NGINX_WORKERS || 'auto',
    NGINX_ACCESS_LOG: '',
  });
  await writeNginxConf(settings);
  const args = ['-p', `${prefix}/`, '-c', 'conf/nginx.conf', '-e', 'logs/error.log'];
  const pidFile = join(prefix, 'logs', 'nginx.pid');
  const readPid = () => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const errorLog = () => {
    try {
      return readFileSync(join(prefix, 'logs', 'error.log'), 'utf8').slice(-2000);
    } catch {
      return '';
    }
  };

  let pid: number | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      pid ??= readPid();
      if (pid !== undefined && alive(pid)) {
        // quit = graceful: stop accepting, finish the requests in progress, exit.
        await run([...args, '-s', 'quit']).catch(() => undefined);
        const master = pid;
        await waitFor('nginx to exit', 10_000, () => !alive(master)).catch(() => killHard(master));
        // A worker that outlived its master (it should not) goes too.
        for (const w of childrenOf(master)) {
          try {
            process.kill(w, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        live.delete(master);
      }
      if (!process.env.KEEP_BENCH_NGINX) await rm(prefix, { recursive: true, force: true });
    })());

  try {
    const test = await run(['-t', '-q', ...args]);
    if (test.code !== 0) throw new Error(`nginx -t failed:\n${test.out}`);
    // daemon on: the command returns once the master has forked and written its pid file.
    const started = await run(args);
    if (started.code !== 0) throw new Error(`nginx exited with ${started.code}:\n${started.out}\n${errorLog()}`);
    await waitFor('nginx.pid', 10_000, () => readPid() !== undefined);
    pid = readPid()!;
    live.add(pid);
    const url = `http://${settings.listen}`;
    await waitFor(`nginx at ${url}/readyz`, 30_000, async () => {
      try {
        const res = await fetch(`${url}/readyz`);
        await res.arrayBuffer();
        return res.status === 200;
      } catch {
        return false;
      }
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${errorLog()}`);
    });
    const master = pid;
    return {
      url,
      prefix,
      pid: master,
      stop,
      rssMiB: () => [master, ...childrenOf(master)].reduce((sum, p) => sum + (rssMiBOf(p) || 0), 0),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A running system (its front end on 127.0.0.1) with nginx in front: the load goes to nginx. */
export async function behindNginx(start: () => Promise<Running>): Promise<Running> {
  const inner = await start();
  try {
    const upstream = new URL(inner.url);
    const host = upstream.hostname === '0.0.0.0' ? '127.0.0.1' : upstream.hostname;
    const nginx = await startNginxInFront(Number(upstream.port), host);
    // nginx's RSS is reported beside the service's, through the same Proc interface.
    const nginxProc = {
      name: 'nginx',
      pid: nginx.pid,
      batches: [],
      tail: [],
      rssMiB: nginx.rssMiB,
      stop: nginx.stop,
    } as unknown as Proc;
    return {
      url: nginx.url,
      hosts: inner.hosts,
      all: [...inner.all, nginxProc],
      stop: async () => {
        try {
          await nginx.stop();
        } finally {
          await inner.stop();
        }
      },
    };
  } catch (err) {
    await inner.stop();
    throw err;
  }
}
