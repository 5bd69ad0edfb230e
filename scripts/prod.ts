/**
 * The production topology, one command each:
 *
 *   npm run prod:up                 Redis (private unless REDIS_URL) + M model hosts + N front ends under PM2,
 *                                   nginx in front on NGINX_PORT (default 8000). Again = rolling restart.
 *   npm run prod:up -- --direct     the same without nginx: the front ends on PORT are the entry point
 *   npm run prod:down               nginx quit, then front ends (drain), model hosts, Redis, the PM2 daemon
 *   npm run prod:status             processes, readiness through nginx and direct, log locations
 *
 * All state lives under PROD_VAR_DIR (default var/, git-ignored): deployment.json (the addresses prod:up serves
 * on, read by prod:status and prod:down), pm2/ (PM2_HOME: the daemon, its logs),
 * nginx/ (prefix: conf, logs, temp, pid), redis/ (the private Redis's configuration with its password).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type DeploymentConfig, loadDeploymentConfig, PROJECT_DIR } from '../src/config/deployment.ts';
import { alive } from '../src/system/processes.ts';
import { assertFreshBuild } from '../src/build/stamp.ts';
import { ensureRedisConf, privateRedisUrl } from './lib/private-redis.ts';
import { nginxSettings, writeNginxConf } from './nginx-render.ts';
import { clearProdState, readProdState, saveProdState, type ProdState } from './lib/prod-state.ts';

const PM2_BIN = join(PROJECT_DIR, 'node_modules', '.bin', 'pm2');
const ECOSYSTEM = join(PROJECT_DIR, 'ecosystem.config.cjs');

let deployment: DeploymentConfig;
try {
  deployment = loadDeploymentConfig(); // fail early, naming every bad variable (the service's and the topology's)
  if (process.argv[2] === 'up') assertFreshBuild(); // the apps would refuse a stale build one by one
} catch (err) {
  console.error(`prod ${process.argv[2] ?? ''}: ${(err as Error).message}`);
  process.exit(1);
}
const { paths, nginxBin: NGINX_BIN } = deployment;
const config = deployment.service;
/** The environment of every pm2 command: ours, with PM2_HOME inside the project (never ~/.pm2). */
const childEnv: NodeJS.ProcessEnv = { ...process.env, PM2_HOME: paths.pm2Home, PROD_VAR_DIR: paths.varDir };

function run(
  cmd: string,
  args: string[],
  opts: { quiet?: boolean; allowFail?: boolean } = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: childEnv, cwd: PROJECT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (stream: NodeJS.WriteStream) => (d: Buffer) => {
      out += d.toString();
      if (!opts.quiet) stream.write(d);
    };
    child.stdout.on('data', onData(process.stdout));
    child.stderr.on('data', onData(process.stderr));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0 && !opts.allowFail)
        reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}${opts.quiet ? `:\n${out.slice(-2000)}` : ''}`));
      else resolvePromise({ code: code ?? 1, out });
    });
  });
}

const pm2 = (args: string[], opts?: { quiet?: boolean; allowFail?: boolean }) => run(PM2_BIN, args, opts);

async function pidFrom(file: string): Promise<number | undefined> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

const pm2DaemonPid = () => pidFrom(join(paths.pm2Home, 'pm2.pid'));
const nginxPid = () => pidFrom(join(paths.nginxPrefix, 'logs', 'nginx.pid'));
const nginxArgs = () => ['-p', `${paths.nginxPrefix}/`, '-c', 'conf/nginx.conf', '-e', 'logs/error.log'];

interface Pm2Process {
  name: string;
  pm_id: number;
  pid: number;
  pm2_env: { status: string; restart_time: number; pm_uptime: number };
  monit: { memory: number; cpu: number };
}

async function pm2List(): Promise<Pm2Process[]> {
  if (!(await pm2DaemonPid())) return [];
  const { out } = await pm2(['jlist'], { quiet: true });
  const start = out.indexOf('[');
  return start < 0 ? [] : (JSON.parse(out.slice(start)) as Pm2Process[]);
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function ready(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status === 200;
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

async function startNginx(): Promise<void> {
  const settings = nginxSettings(deployment, paths.nginxPrefix);
  await writeNginxConf(settings);
  await run(NGINX_BIN, ['-t', '-q', ...nginxArgs()]);
  if (await nginxPid()) {
    await run(NGINX_BIN, [...nginxArgs(), '-s', 'reload']);
    console.log(`nginx reloaded (${settings.listen})`);
  } else {
    await run(NGINX_BIN, nginxArgs());
    console.log(`nginx started (${settings.listen}, prefix ${paths.nginxPrefix})`);
  }
  const url = `http://${settings.listen}/readyz`;
  await waitFor(`nginx at ${url}`, 30_000, () => ready(url));
}

async function stopNginx(requestTimeoutMs = config.REQUEST_TIMEOUT_MS): Promise<void> {
  const pid = await nginxPid();
  if (!pid) return;
  // quit = graceful: stop accepting, finish the requests in progress, exit.
  await run(NGINX_BIN, [...nginxArgs(), '-s', 'quit'], { allowFail: true });
  await waitFor('nginx to exit', requestTimeoutMs + 10_000, async () => !alive(pid)).catch(() => {
    process.kill(pid, 'SIGTERM');
  });
  console.log('nginx stopped');
}

async function up(direct: boolean): Promise<void> {
  await mkdir(paths.pm2Home, { recursive: true });
  const redisUrl = config.REDIS_URL;
  if (config.REDIS_CLUSTER_NODES || config.REDIS_SENTINELS) {
    // A cluster or a sentinel-managed primary: the apps' clients find the nodes; nothing to start here.
  } else if (!redisUrl) {
    await ensureRedisConf(
      paths.redisDir,
      deployment.REDIS_PORT,
      config.MAX_QUEUE_BYTES,
      config.RESPONSE_CACHE_MAX_BYTES,
    );
    const url = await privateRedisUrl(paths.redisDir);
    await pm2(['startOrReload', ECOSYSTEM, '--only', 'redis']);
    await waitFor('the private redis-server', 15_000, () => redisAnswers(url));
  } else {
    await waitFor(`Redis at REDIS_URL`, 15_000, () => redisAnswers(redisUrl)).catch((err: Error) => {
      throw new Error(`${err.message} (is REDIS_URL right? password, rediss:// for TLS)`);
    });
  }
  // Model hosts first so that front ends find a live host; running apps are restarted one by one (rolling).
  await pm2([
    'startOrReload',
    ECOSYSTEM,
    '--only',
    deployment.modelHostApps.map((a) => a.app).join(','),
    '--update-env',
  ]);
  await pm2(['startOrReload', ECOSYSTEM, '--only', 'frontend', '--update-env']);
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST === '::' ? '[::1]' : config.HOST;
  const direct_url = `http://${host}:${config.PORT}`;
  await waitFor(`the front ends at ${direct_url}/readyz`, 60_000, () => ready(`${direct_url}/readyz`));
  const grpcPorts =
    typeof config.GRPC_PORT === 'number' && config.GRPC_PORT > 0
      ? `${host}:${config.GRPC_PORT}${deployment.FRONTENDS > 1 ? `-${config.GRPC_PORT + deployment.FRONTENDS - 1}` : ''}`
      : undefined;
  const state: ProdState = {
    direct: direct_url,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    startedAt: new Date().toISOString(),
  };
  if (direct) {
    await stopNginx();
    console.log(`\nserving directly on ${direct_url}  (POST /predict) — no nginx; put your load balancer in front`);
    if (grpcPorts) console.log(`gRPC (Open Inference Protocol): one port per front end, ${grpcPorts}`);
    if (grpcPorts) state.grpc = grpcPorts;
  } else {
    await startNginx();
    const { listen, grpc } = nginxSettings(deployment, paths.nginxPrefix);
    console.log(`\nserving on http://${listen}  (nginx → front ends on ${direct_url})`);
    if (grpc) console.log(`gRPC (Open Inference Protocol) on ${grpc.listen}  (nginx → ${grpc.upstreams.join(', ')})`);
    state.nginx = listen;
    if (grpc) state.grpc = grpc.listen;
  }
  // Where it serves, for prod:status and prod:down in any environment.
  await saveProdState(paths.varDir, state);
  console.log(`status: npm run prod:status   logs: PM2_HOME=${paths.pm2Home} npx pm2 logs   stop: npm run prod:down`);
}

async function down(): Promise<void> {
  await stopNginx((await readProdState(paths.varDir))?.requestTimeoutMs ?? config.REQUEST_TIMEOUT_MS);
  if (await pm2DaemonPid()) {
    const names = new Set((await pm2List()).map((p) => p.name));
    // Front ends first (they drain their in-flight requests), then the model hosts, then Redis.
    const hostApps = [...names].filter((n) => n === 'model-host' || n.startsWith('model-host-'));
    for (const name of ['frontend', ...hostApps, 'redis'])
      if (names.has(name)) await pm2(['stop', name], { quiet: true });
    await pm2(['kill'], { quiet: true });
    console.log('PM2 apps stopped, daemon killed');
  } else {
    console.log('PM2 daemon not running');
  }
  await clearProdState(paths.varDir);
}

async function status(): Promise<number> {
  const list = await pm2List();
  if (list.length === 0) console.log(`PM2: no daemon or no apps (PM2_HOME=${paths.pm2Home})`);
  else {
    console.table(
      list.map((p) => ({
        name: p.name,
        id: p.pm_id,
        pid: p.pid,
        status: p.pm2_env.status,
        restarts: p.pm2_env.restart_time,
        uptime_s: p.pm2_env.status === 'online' ? Math.round((Date.now() - p.pm2_env.pm_uptime) / 1000) : 0,
        mem_mb: Math.round(p.monit.memory / 1e6),
        cpu: p.monit.cpu,
      })),
    );
  }
  // The addresses prod:up saved; this environment's settings only when it saved none (an older prod:up).
  const saved = await readProdState(paths.varDir);
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const direct = saved?.direct ?? `http://${host}:${config.PORT}`;
  const checks: Array<[string, string]> = [['front ends (direct)', `${direct}/readyz`]];
  const ngx = await nginxPid();
  const nginxListen = saved ? saved.nginx : nginxSettings(deployment, paths.nginxPrefix).listen;
  if (ngx && nginxListen) checks.unshift([`nginx (pid ${ngx})`, `http://${nginxListen}/readyz`]);
  else console.log('nginx: not running');
  if (saved?.grpc) console.log(`gRPC: ${saved.grpc}`);
  let ok = list.length > 0;
  for (const [name, url] of checks) {
    const result = await ready(url).then(
      (r) => (r ? 'ready' : 'NOT READY'),
      (err: Error) => `unreachable (${err.message})`,
    );
    if (result !== 'ready') ok = false;
    console.log(`${name}: ${url} → ${result}`);
  }
  console.log(`logs: ${join(paths.pm2Home, 'logs')}/  ${ngx ? join(paths.nginxPrefix, 'logs') + '/' : ''}`);
  return ok ? 0 : 1;
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'up') await up(rest.includes('--direct'));
  else if (command === 'down') await down();
  else if (command === 'status') process.exitCode = await status();
  else {
    console.error('usage: prod.ts up [--direct] | down | status');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`prod ${command}: ${(err as Error).message}`);
  process.exitCode = 1;
}
