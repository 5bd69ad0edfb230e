/**
 * A private redis-server for `npm start` without REDIS_URL, and for tests: loopback only, a random password,
 * no persistence, a free port; stopped with the process that started it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

const SETPRIV = '/usr/bin/setpriv';

export interface EmbeddedRedis {
  url: string;
  port: number;
  /** Stops the server and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** For fault tests: kill it now without waiting. */
  process: ChildProcess;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedRedis(opts: { port?: number; password?: string; binary?: string } = {}): Promise<EmbeddedRedis> {
  const port = opts.port ?? (await freePort());
  const password = opts.password ?? randomBytes(18).toString('base64url');
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--requirepass', password,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'notice', '--dir', '/tmp',
  ];
  // setpriv (util-linux) makes the kernel send redis-server SIGTERM if this process dies without stopping it,
  // so a crashed test or `npm start` never leaves a stray server; it execs, so the pid is redis-server's own.
  const binary = opts.binary ?? 'redis-server';
  const child = existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'TERM', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onOutput = (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
      if (/Ready to accept connections/.test(output)) resolve();
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    child.once('error', (err) => reject(new Error(`cannot start redis-server (is it installed? npm run setup): ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.trim()}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await ready;

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
