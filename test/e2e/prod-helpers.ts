/**
 * Fixtures for the deployment tests: each test run gets its own PROD_VAR_DIR (so its own PM2_HOME, nginx
 * prefix and private Redis) and free ports, and a teardown that leaves no process behind even when
 * `prod:down` fails: it then kills what the pid files name.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/system/ports.ts';
import { alive, childrenOf, processTree } from '../../src/system/processes.ts';
import { buildIfStale } from '../../scripts/build.ts';

export const PROJECT_DIR = new URL('../../', import.meta.url).pathname;

export interface Deployment {
  env: NodeJS.ProcessEnv;
  varDir: string;
  frontUrl: string;
  nginxUrl: string;
  /** host:port of nginx's gRPC server, and of the front ends' own gRPC ports (GRPC_PORT + 0, 1, ...). */
  nginxGrpc: string;
  frontGrpc: string[];
}

/** `count` consecutive loopback ports that were free a moment ago (the front ends' gRPC ports). */
async function freePortRange(count: number): Promise<number> {
  for (;;) {
    const first = await freePort();
    const free = async (port: number) =>
      new Promise<boolean>((resolve) => {
        const srv = createServer();
        srv.once('error', () => resolve(false));
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
      });
    let ok = first + count - 1 <= 65535;
    for (let p = first + 1; ok && p < first + count; p++) ok = await free(p);
    if (ok) return first;
  }
}

export async function makeDeployment(overrides: Record<string, string> = {}): Promise<Deployment> {
  buildIfStale(); // prod:up runs the build in dist/
  const varDir = await mkdtemp(join(tmpdir(), 'cls-e2e-'));
  const [port, nginxPort, redisPort, nginxGrpcPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const frontends = Number(overrides.FRONTENDS ?? '2');
  const grpcPort = await freePortRange(frontends);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PROD_VAR_DIR: varDir,
    PORT: String(port),
    NGINX_PORT: String(nginxPort),
    REDIS_PORT: String(redisPort),
    GRPC_PORT: String(grpcPort),
    NGINX_GRPC_PORT: String(nginxGrpcPort),
    KEY_PREFIX: `e2e-${port}`,
    FRONTENDS: '2',
    MODEL_HOSTS: '1',
    // One model keeps the deployment tests light; test/e2e/models-nginx.test.ts serves several.
    MODEL_DIR: 'models/default',
    PREPROCESS_THREADS: '1',
    LOG_LEVEL: 'info',
    REQUEST_TIMEOUT_MS: '5000',
    NGINX_WORKERS: '1',
    ...overrides,
  };
  delete env.REDIS_URL;
  delete env.PM2_HOME;
  return {
    env,
    varDir,
    frontUrl: `http://127.0.0.1:${port}`,
    nginxUrl: `http://127.0.0.1:${nginxPort}`,
    nginxGrpc: `127.0.0.1:${nginxGrpcPort}`,
    frontGrpc: Array.from({ length: frontends }, (_, i) => `127.0.0.1:${grpcPort + i}`),
  };
}

/** Runs `npm run -s <script> -- args` with the deployment's environment; resolves with exit code and output. */
export function npmRun(
  d: Deployment,
  script: string,
  args: string[] = [],
  timeoutMs = 240_000,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', script, ...(args.length ? ['--', ...args] : [])], {
      cwd: PROJECT_DIR,
      env: d.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
  });
}

/** Runs the project's pm2 against the deployment's PM2_HOME. */
export function pm2(d: Deployment, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(PROJECT_DIR, 'node_modules/.bin/pm2'), args, {
      cwd: PROJECT_DIR,
      env: { ...d.env, PM2_HOME: join(d.varDir, 'pm2') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.once('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

export interface Pm2App {
  name: string;
  pid: number;
  pm2_env: { status: string; restart_time: number };
}

/** Every process PM2 runs for the deployment (`pm2 jlist`). */
export async function pm2Apps(d: Deployment): Promise<Pm2App[]> {
  const { out } = await pm2(d, ['jlist']);
  return JSON.parse(out.slice(out.indexOf('['))) as Pm2App[];
}

async function pidsIn(files: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const f of files) {
    const pid = Number((await readFile(f, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) pids.push(pid);
  }
  return pids;
}

/** Every process of this deployment that is still alive, from the nginx, PM2-daemon and PM2-app pid files. */
export async function leftoverPids(d: Deployment): Promise<number[]> {
  const appPidDir = join(d.varDir, 'pm2', 'pids');
  const appPids = (await readdir(appPidDir).catch(() => [] as string[])).map((f) => join(appPidDir, f));
  return pidsIn([join(d.varDir, 'nginx', 'logs', 'nginx.pid'), join(d.varDir, 'pm2', 'pm2.pid'), ...appPids]);
}

/** The command line of every process of the deployment's PM2 apps and of their children. */
export async function appCommandLines(d: Deployment): Promise<string[]> {
  const appPidDir = join(d.varDir, 'pm2', 'pids');
  const files = (await readdir(appPidDir).catch(() => [] as string[])).map((f) => join(appPidDir, f));
  const pids = (await pidsIn(files)).flatMap(processTree);
  const lines = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  return lines.filter(Boolean).map((l) => l.replaceAll('\0', ' ').trim());
}

/** prod:down, then SIGKILL whatever survived it, then remove the state directory. Never throws. */
export async function teardown(d: Deployment | undefined): Promise<{ downCode: number; leftovers: number[] }> {
  if (!d) return { downCode: 0, leftovers: [] };
  const down = await npmRun(d, 'prod:down', [], 120_000);
  if (down.code !== 0) process.stderr.write(`prod:down failed:\n${down.out}\n`);
  const found = await leftoverPids(d);
  // With their children (nginx workers, a PM2 app's own children), found before the parents are killed.
  const leftovers = [...found, ...found.flatMap(childrenOf)];
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // nginx workers and PM2 apps exit with their parents; give them a moment before removing their files.
  if (leftovers.length > 0) await sleep(500);
  if (!process.env.KEEP_E2E_STATE) await rm(d.varDir, { recursive: true, force: true });
  return { downCode: down.code, leftovers };
}

/** JSON lines of a log file (non-JSON lines skipped). */
export async function jsonLines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').flatMap((line) => {
    try {
      return line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

export const CHELSEA = new URL('../../examples/chelsea.png', import.meta.url);

export async function classify(
  url: string,
  image: Uint8Array,
  headers: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  form.append('image', new Blob([image as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'chelsea.png');
  return fetch(`${url}/predict`, { method: 'POST', body: form, headers });
}

/** The pids of an app's processes that PM2 reports online, sorted. */
export async function onlinePids(d: Deployment, name: string): Promise<number[]> {
  return (await pm2Apps(d))
    .filter((p) => p.name === name && p.pm2_env.status === 'online')
    .map((p) => p.pid)
    .sort();
}

/** `npm run prod:up` (with `args`) for a suite's before(): fails the suite with prod:up's output unless it succeeds. */
export async function prodUp(d: Deployment, args: string[] = []): Promise<{ code: number; out: string }> {
  const up = await npmRun(d, 'prod:up', args);
  assert.equal(up.code, 0, `prod:up ${args.join(' ')} failed:\n${up.out}`);
  return up;
}

/** teardown() for a suite's after(): fails the suite when prod:down failed or left processes behind. */
export async function prodDown(d: Deployment | undefined): Promise<void> {
  const { downCode, leftovers } = await teardown(d);
  assert.deepEqual(leftovers, [], 'processes survived prod:down');
  assert.equal(downCode, 0, 'prod:down failed');
}
