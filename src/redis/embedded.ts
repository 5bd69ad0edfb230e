/**
 * A private redis-server for `npm start` without REDIS_URL, and for tests: loopback only, a random password,
 * no persistence, a free port, a memory bound with noeviction; stopped with the process that started it.
 * Its settings, password included, go in a 0600 file in a 0700 directory, deleted once the server runs: a
 * password on the command line is readable by every local user in /proc/<pid>/cmdline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { freePort } from '../system/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MiB = 1024 * 1024;
/** The default MAX_QUEUE_BYTES (src/config/config.ts), for callers that do not pass theirs. */
const DEFAULT_MAX_QUEUE_BYTES = 256 * MiB;

/**
 * maxmemory for a Redis that holds one deployment: its request streams (bounded by MAX_QUEUE_BYTES at admission)
 * plus room for the rest: XADDs on their way in, reply streams, metrics snapshots. With noeviction a write past it
 * is refused (OOM, answered 503 OVERLOADED) instead of evicting accepted requests. The response cache bounds itself
 * (RESPONSE_CACHE_MAX_BYTES, src/frontend/response-cache.ts) and gets that much on top.
 */
export function privateRedisMaxmemory(maxQueueBytes: number, responseCacheBytes = 0): number {
  return Math.ceil(maxQueueBytes * 1.5) + 64 * MiB + responseCacheBytes;
}

/** redis.conf lines of a private Redis; values are quoted, so a password cannot add a directive. */
export function privateRedisConf(opts: {
  port: number;
  password: string;
  maxmemoryBytes: number;
  dir: string;
}): string {
  const quoted = (v: string) =>
    `"${v
      .replace(/[\\"]/g, (c) => `\\${c}`)
      .replace(/\r/g, '\\r')
      .replace(/\n/g, '\\n')}"`;
  return [
    `port ${opts.port}`,
    'bind 127.0.0.1',
    'protected-mode yes',
    `requirepass ${quoted(opts.password)}`,
    'save ""',
    'appendonly no',
    'daemonize no',
    'loglevel notice',
    `dir ${quoted(opts.dir)}`,
    `maxmemory ${opts.maxmemoryBytes}`,
    'maxmemory-policy noeviction',
    '',
  ].join('\n');
}

const SETPRIV = '/usr/bin/setpriv';

export interface EmbeddedRedis {
  url: string;
  port: number;
  /** Stops the server and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** For fault tests: kill it now without waiting. */
  process: ChildProcess;
}

export interface EmbeddedRedisOptions {
  port?: number;
  password?: string;
  binary?: string;
  /** Sets maxmemory to privateRedisMaxmemory(maxQueueBytes); the default MAX_QUEUE_BYTES when absent. */
  maxQueueBytes?: number;
  /** RESPONSE_CACHE_MAX_BYTES, added to maxmemory. */
  responseCacheBytes?: number;
}

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions = {}): Promise<EmbeddedRedis> {
  const port = opts.port ?? (await freePort());
  const password = opts.password ?? randomBytes(18).toString('base64url');
  const maxmemoryBytes = privateRedisMaxmemory(opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES, opts.responseCacheBytes);
  const confDir = await mkdtemp(join(tmpdir(), 'classify-redis-'));
  const confFile = join(confDir, 'redis.conf');
  await writeFile(confFile, privateRedisConf({ port, password, maxmemoryBytes, dir: tmpdir() }), { mode: 0o600 });
  // setpriv (util-linux) makes the kernel send redis-server SIGTERM if this process dies without stopping it,
  // so a crashed test or `npm start` never leaves a stray server; it execs, so the pid is redis-server's own.
  // Its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches the service, which
  // closes its connections and stops this server last, instead of the server dying under them first.
  const binary = opts.binary ?? 'redis-server';
  const spawnOpts = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], detached: true };
  const child = existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'TERM', binary, confFile], spawnOpts)
    : spawn(binary, [confFile], spawnOpts);
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onOutput = (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
      if (/Ready to accept connections/.test(output)) resolve();
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    child.once('error', (err) =>
      reject(new Error(`cannot start redis-server (is it installed? npm run setup): ${err.message}`)),
    );
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.trim()}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await ready;
  } finally {
    // redis-server has read its settings (or failed): the password leaves the disk.
    await rm(confDir, { recursive: true, force: true });
  }

  let stopping: Promise<void> | undefined;
  return {
    url: `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    port,
    process: child,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      })();
      return stopping;
    },
  };
}
