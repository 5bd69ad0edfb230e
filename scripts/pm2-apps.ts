/**
 * PM2 apps of the production topology: N front ends and M model hosts sharing one Redis, plus a private
 * redis-server when REDIS_URL is not set. Built from the validated settings (src/config/deployment.ts); run as a
 * script it prints `{ "apps": [...] }` as JSON for ecosystem.config.cjs, PM2's CommonJS bridge.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shutdownGraceMs } from '../src/config/config.ts';
import { type DeploymentConfig, loadDeploymentConfig, PROJECT_DIR } from '../src/config/deployment.ts';
import { findBinary } from '../src/system/binaries.ts';
import { privateRedisUrl, redisConfPath } from './lib/private-redis.ts';
import { MALLOC_ARENA_MAX_FOR_HOSTS, UV_THREADPOOL_FOR_HOSTS } from '../src/config/uv-threads.ts';
import { nodeArgsFor } from '../src/build/layout.ts';
import { assertFreshBuild } from '../src/build/stamp.ts';

export interface Pm2App {
  name: string;
  script: string;
  interpreter: 'none';
  args: string[];
  cwd: string;
  exec_mode: 'fork';
  instances: number;
  autorestart: boolean;
  exp_backoff_restart_delay: number;
  kill_timeout: number;
  merge_logs: boolean;
  [setting: string]: unknown;
}

export async function pm2Apps(d: DeploymentConfig): Promise<Pm2App[]> {
  // A cluster (REDIS_CLUSTER_NODES) or sentinels (REDIS_SENTINELS) reach the apps through the environment.
  const privateRedis = !d.service.REDIS_URL && !d.service.REDIS_CLUSTER_NODES && !d.service.REDIS_SENTINELS;
  const redisUrl = d.service.REDIS_URL ?? (privateRedis ? await privateRedisUrl(d.paths.redisDir) : undefined);
  // The entry points give a graceful shutdown shutdownGraceMs before exiting on their own; PM2 sends SIGINT,
  // then SIGKILL after kill_timeout, so kill_timeout sits a little above that grace.
  const killTimeoutMs = shutdownGraceMs(d.service) + 2000;

  /**
   * A Node entry point run exactly like `npm start` runs src/main.ts: its compiled JavaScript in dist/. Started
   * with interpreter "none" (PM2 spawns the node binary itself, still with an IPC channel, so process.send('ready')
   * reaches wait_ready).
   *
   * exec_mode fork, several instances, all on the same PORT: uWebSockets.js does not use Node's cluster module,
   * so PM2's cluster mode (the master accepts and hands sockets to workers) does not apply to it. On Linux uWS
   * listens with SO_REUSEPORT, so every fork binds the same port itself and the kernel spreads new connections
   * across the listening processes. On other systems (macOS) only one front end could bind: use FRONTENDS=1.
   */
  const nodeApp = (name: string, entry: string, instances: number, extra: Record<string, unknown>): Pm2App => ({
    name,
    script: process.execPath,
    interpreter: 'none',
    args: nodeArgsFor(entry, true),
    cwd: PROJECT_DIR,
    exec_mode: 'fork',
    instances,
    autorestart: true,
    // A process that crashes is restarted at once, then with a growing delay if it keeps crashing (Redis down).
    exp_backoff_restart_delay: 200,
    min_uptime: 5000,
    max_restarts: 50,
    kill_timeout: killTimeoutMs,
    // The entry points call process.send('ready') once they serve (front end listening, model loaded).
    wait_ready: true,
    // Logs: pino JSON lines on stdout; PM2 appends them to $PM2_HOME/logs/<name>-out-<id>.log.
    merge_logs: false,
    time: false,
    ...extra,
    env: { ...(redisUrl ? { REDIS_URL: redisUrl } : {}), ...(extra.env as Record<string, string> | undefined) },
  });

  const apps: Pm2App[] = [];
  if (privateRedis) {
    apps.push({
      // Loopback only, password, no persistence (see var/redis/redis.conf): a cache of in-flight work, nothing
      // in it outlives a restart that matters (requests in flight are lost with it; clients see 503 then retry).
      name: 'redis',
      script: findBinary('redis-server', process.env.PATH),
      interpreter: 'none',
      args: [redisConfPath(d.paths.redisDir)],
      cwd: PROJECT_DIR,
      exec_mode: 'fork',
      instances: 1,
      autorestart: true,
      exp_backoff_restart_delay: 200,
      kill_timeout: 5000,
      merge_logs: true,
    });
  }
  for (const { app, instances, models } of d.modelHostApps) {
    apps.push(
      nodeApp(app, 'src/host/main.ts', instances, {
        // Loading and warming up the model takes seconds (more with several hosts starting on a small machine).
        listen_timeout: d.MODEL_LOAD_TIMEOUT_MS,
        // Each host gets its own preprocessing threads: keep hosts × threads near the core count.
        // A native decode holds a libuv thread until it returns: enough of them for every decode thread (uv-threads.ts).
        env: {
          PREPROCESS_THREADS: String(d.preprocessThreadsPerHost),
          UV_THREADPOOL_SIZE: String(UV_THREADPOOL_FOR_HOSTS),
          MALLOC_ARENA_MAX: String(MALLOC_ARENA_MAX_FOR_HOSTS),
          ...(models && { MODELS: models }),
        },
      }),
    );
  }
  // With hosts per model the deployment serves exactly those models: the front ends route to and wait for them.
  const perModel = d.modelHostApps.flatMap((a) => (a.models ? [a.models] : []));
  const frontendEnv = perModel.length > 0 ? { env: { MODELS: perModel.join(',') } } : {};
  // Each front end's index (0, 1, ...) as FRONTEND_INDEX: its own gRPC port, GRPC_PORT + FRONTEND_INDEX (gRPC
  // servers cannot share a port as uWS does). PM2 keeps a process's index across restarts and reloads.
  apps.push(
    nodeApp('frontend', 'src/frontend/main.ts', d.FRONTENDS, {
      listen_timeout: 30000,
      instance_var: 'FRONTEND_INDEX',
      ...frontendEnv,
    }),
  );
  return apps;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    assertFreshBuild();
    process.stdout.write(JSON.stringify({ apps: await pm2Apps(loadDeploymentConfig()) }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
