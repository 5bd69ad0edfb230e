/**
 * PM2 apps of the production topology: N front ends and M model hosts sharing one Redis, plus a private
 * redis-server when REDIS_URL is not set. Normally driven by `npm run prod:up|prod:down|prod:status`
 * (scripts/prod.ts), which sets PM2_HOME=var/pm2 and creates the private Redis configuration first.
 *
 * CommonJS (.cjs) on purpose: PM2 loads ecosystem files with require(), and this package is "type":"module",
 * so an ecosystem.config.js would be treated as ESM and fail to load under Node 20.
 *
 * Settings come from the environment of the `pm2` command (PM2 passes it on to the apps): every service
 * variable (PORT, HOST, BODY_LIMIT_BYTES, REQUEST_TIMEOUT_MS, KEY_PREFIX, LOG_LEVEL, ...) plus
 *   FRONTENDS     front-end processes  (default: max(2, cores/4) — one event loop each, mostly I/O)
 *   MODEL_HOSTS   model-host processes (default: max(1, cores/2) — each runs inference + preprocessing)
 *   REDIS_URL     shared Redis; unset = the private redis-server app below (config in var/redis/redis.conf)
 *   PROD_VAR_DIR  where pm2/, nginx/, redis/ state lives (default: var/ in the project)
 */
'use strict';
const { availableParallelism } = require('node:os');
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = __dirname;
const env = process.env;
const VAR_DIR = path.resolve(env.PROD_VAR_DIR || path.join(ROOT, 'var'));
const cores = availableParallelism();

function int(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${JSON.stringify(raw)}: must be a positive integer`);
  return n;
}

const FRONTENDS = int('FRONTENDS', Math.max(2, Math.ceil(cores / 4)));
const MODEL_HOSTS = int('MODEL_HOSTS', Math.max(1, Math.floor(cores / 2)));
// The entry points (src/*/main.ts) give a graceful shutdown REQUEST_TIMEOUT_MS + 5 s before exiting on their
// own; PM2 sends SIGINT, then SIGKILL after kill_timeout, so kill_timeout sits a little above that grace.
const GRACE_MS = int('REQUEST_TIMEOUT_MS', 10000) + 5000;
const KILL_TIMEOUT_MS = GRACE_MS + 2000;

/** The private Redis: its configuration file holds port and password (created 0600 by scripts/prod.ts). */
const REDIS_CONF = path.join(VAR_DIR, 'redis', 'redis.conf');
function privateRedisUrl() {
  if (!existsSync(REDIS_CONF)) {
    throw new Error(`REDIS_URL is not set and ${REDIS_CONF} does not exist: run \`npm run prod:up\`, or set REDIS_URL`);
  }
  const conf = readFileSync(REDIS_CONF, 'utf8');
  const port = /^port (\d+)$/m.exec(conf);
  const pass = /^requirepass "([^"]+)"$/m.exec(conf);
  if (!port || !pass) throw new Error(`${REDIS_CONF}: no port or requirepass line`);
  return `redis://:${encodeURIComponent(pass[1])}@127.0.0.1:${port[1]}`;
}
// A cluster (REDIS_CLUSTER_NODES) or sentinels (REDIS_SENTINELS) reach the apps through the environment.
const privateRedis = !env.REDIS_URL && !env.REDIS_CLUSTER_NODES && !env.REDIS_SENTINELS;
const REDIS_URL = env.REDIS_URL || (privateRedis ? privateRedisUrl() : undefined);

function which(binary) {
  for (const dir of (env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return binary;
}

/**
 * A Node entry point run exactly like `npm start` runs src/main.ts: `node --import tsx <entry>`. Started with
 * interpreter "none" (PM2 spawns the node binary itself, still with an IPC channel, so process.send('ready')
 * reaches wait_ready); with PM2's node interpreter its loader would try ts-node for a .ts script instead.
 *
 * exec_mode fork, several instances, all on the same PORT: uWebSockets.js does not use Node's cluster module,
 * so PM2's cluster mode (the master accepts and hands sockets to workers) does not apply to it. On Linux uWS
 * listens with SO_REUSEPORT, so every fork binds the same port itself and the kernel spreads new connections
 * across the listening processes. On other systems (macOS) only one front end could bind: use FRONTENDS=1.
 */
function nodeApp(name, entry, instances, extra) {
  return {
    name,
    script: process.execPath,
    interpreter: 'none',
    args: ['--import', 'tsx', entry],
    cwd: ROOT,
    exec_mode: 'fork',
    instances,
    autorestart: true,
    // A process that crashes is restarted at once, then with a growing delay if it keeps crashing (Redis down).
    exp_backoff_restart_delay: 200,
    min_uptime: 5000,
    max_restarts: 50,
    kill_timeout: KILL_TIMEOUT_MS,
    // The entry points call process.send('ready') once they serve (front end listening, model loaded).
    wait_ready: true,
    // Logs: pino JSON lines on stdout; PM2 appends them to $PM2_HOME/logs/<name>-out-<id>.log.
    merge_logs: false,
    time: false,
    ...extra,
    env: { ...(REDIS_URL ? { REDIS_URL } : {}), ...extra?.env },
  };
}

const apps = [];
if (privateRedis) {
  apps.push({
    // Loopback only, password, no persistence (see var/redis/redis.conf): a cache of in-flight work, nothing
    // in it outlives a restart that matters (requests in flight are lost with it; clients see 503 then retry).
    name: 'redis',
    script: which('redis-server'),
    interpreter: 'none',
    args: [REDIS_CONF],
    cwd: ROOT,
    exec_mode: 'fork',
    instances: 1,
    autorestart: true,
    exp_backoff_restart_delay: 200,
    kill_timeout: 5000,
    merge_logs: true,
  });
}
apps.push(
  nodeApp('model-host', 'src/host/main.ts', MODEL_HOSTS, {
    // Loading and warming up the model takes seconds (more with several hosts starting on a small machine).
    listen_timeout: int('MODEL_LOAD_TIMEOUT_MS', 180000),
    // Each host gets its own preprocessing threads: keep hosts × threads near the core count.
    env: { PREPROCESS_THREADS: env.PREPROCESS_THREADS || String(Math.max(1, Math.floor(cores / MODEL_HOSTS) - 1)) },
  }),
  nodeApp('frontend', 'src/frontend/main.ts', FRONTENDS, { listen_timeout: 30000 }),
);

module.exports = { apps };
