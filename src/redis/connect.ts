/**
 * Redis connections to one server (REDIS_URL), a Redis Cluster (REDIS_CLUSTER_NODES, ioredis's Cluster client,
 * which follows MOVED/ASK and refreshes its slot map after a failover) or a Sentinel-managed primary
 * (REDIS_SENTINELS). Commands fail at once while Redis is unreachable (no offline queue), so a request never
 * waits on a dead connection; the client reconnects on its own with a capped backoff.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

/** A connection of any of the three kinds; the service uses only commands both clients have. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: a URL (one server), or a cluster's seed nodes, or sentinels and the primary's name. */
export type RedisTarget = string | ClusterTarget | SentinelTarget;

export interface ClusterTarget {
  kind: 'cluster';
  nodes: Array<{ host: string; port: number }>;
  /** Auth and TLS for every node, from the first URL in the list. */
  auth: NodeAuth;
}

export interface SentinelTarget {
  kind: 'sentinel';
  sentinels: Array<{ host: string; port: number }>;
  name: string;
  /** Auth and TLS of the primary and replicas, from the first URL in the list. */
  auth: NodeAuth;
  sentinelPassword?: string;
}

interface NodeAuth {
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * Parses `redis[s]://[[user]:password@]host:port,host:port,...`: the first entry may be a URL whose credentials
 * and TLS (rediss://) apply to every node (as REDIS_URL's do); the others may be URLs or plain host:port.
 */
export function parseNodeList(list: string): { nodes: Array<{ host: string; port: number }>; auth: NodeAuth } {
  const auth: NodeAuth = { tls: false };
  const nodes = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const url = new URL(/^[a-z]+:\/\//.test(entry) ? entry : `redis://${entry}`);
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`not a redis:// node: ${entry}`);
      if (i === 0) {
        auth.tls = url.protocol === 'rediss:';
        if (url.username) auth.username = decodeURIComponent(url.username);
        if (url.password) auth.password = decodeURIComponent(url.password);
      }
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (!host || !url.port) throw new Error(`node needs host:port: ${entry}`);
      return { host, port: Number(url.port) };
    });
  if (nodes.length === 0) throw new Error('empty node list');
  return { nodes, auth };
}

/** The Redis the configuration names, or undefined when none is set (npm start then embeds one). */
export function configuredRedisTarget(config: {
  REDIS_URL?: string | undefined;
  REDIS_CLUSTER_NODES?: string | undefined;
  REDIS_SENTINELS?: string | undefined;
  REDIS_SENTINEL_MASTER: string;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
}): RedisTarget | undefined {
  if (config.REDIS_CLUSTER_NODES) return { kind: 'cluster', ...parseNodeList(config.REDIS_CLUSTER_NODES) };
  if (config.REDIS_SENTINELS) {
    const { nodes, auth } = parseNodeList(config.REDIS_SENTINELS);
    return {
      kind: 'sentinel',
      sentinels: nodes,
      name: config.REDIS_SENTINEL_MASTER,
      auth,
      ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
    };
  }
  return config.REDIS_URL;
}

/** The Redis a standalone process (`who`) must be given: PM2's front ends and model hosts never embed one. */
export function requiredRedisTarget(config: Parameters<typeof configuredRedisTarget>[0], who: string): RedisTarget {
  const target = configuredRedisTarget(config);
  if (!target)
    throw new Error(
      `REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS is required for ${who} (npm start embeds Redis instead)`,
    );
  return target;
}

/** For logs: where Redis is, without credentials. */
export function describeTarget(target: RedisTarget): string {
  if (typeof target === 'string') return target.replace(/\/\/[^@/]*@/, '//');
  const nodes = (target.kind === 'cluster' ? target.nodes : target.sentinels)
    .map((n) => `${n.host}:${n.port}`)
    .join(',');
  return target.kind === 'cluster' ? `cluster ${nodes}` : `sentinel ${nodes} (${target.name})`;
}

function authOptions(auth: NodeAuth): RedisOptions {
  return {
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password !== undefined ? { password: auth.password } : {}),
    ...(auth.tls ? { tls: {} } : {}),
  };
}

/**
 * ioredis reads redis:// and rediss:// (TLS) URLs itself, user, password and db included. It does not read
 * unix:// URLs (the path comes out as "//:password@/path"), so those are parsed here:
 * unix://[[user]:password@]/path/to/redis.sock[?db=N].
 */
export function unixSocketOptions(url: string): RedisOptions | undefined {
  const m = /^unix:\/\/(?:([^:@/]*)(?::([^@]*))?@)?(\/[^?]*)(?:\?(.*))?$/.exec(url);
  if (!m) return undefined;
  const db = new URLSearchParams(m[4] ?? '').get('db');
  return {
    path: decodeURIComponent(m[3]!),
    ...(m[1] ? { username: decodeURIComponent(m[1]) } : {}),
    ...(m[2] !== undefined ? { password: decodeURIComponent(m[2]) } : {}),
    ...(db ? { db: Number(db) } : {}),
  };
}

export function connectRedis(url: string, name: string, log: Logger, extra?: RedisOptions): Redis;
export function connectRedis(target: RedisTarget, name: string, log: Logger, extra?: RedisOptions): RedisClient;
export function connectRedis(target: RedisTarget, name: string, log: Logger, extra: RedisOptions = {}): RedisClient {
  const options: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    lazyConnect: false,
    ...extra,
  };
  let redis: RedisClient;
  if (typeof target === 'string') {
    const unix = unixSocketOptions(target);
    redis = unix ? new Redis({ ...unix, ...options }) : new Redis(target, options);
  } else if (target.kind === 'sentinel') {
    redis = new Redis({
      ...options,
      ...authOptions(target.auth),
      sentinels: target.sentinels,
      name: target.name,
      // Ask the sentinels again at every reconnect, so a failover leads to the new primary.
      sentinelRetryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      // No failoverDetector: its sentinel subscriptions outlive quit() and reconnect forever. A failover is found
      // when the old primary's connection breaks (the reconnect asks the sentinels again) or refuses writes.
      reconnectOnError: (err) => /READONLY/.test(err.message),
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(target.auth.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    });
  } else {
    const { enableOfflineQueue: _q, retryStrategy: _r, lazyConnect, ...perNode } = options;
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      lazyConnect: lazyConnect ?? false,
      // Retries of MOVED/ASK/TRYAGAIN/CLUSTERDOWN are short: requests have deadlines, the caller answers 503.
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      maxRedirections: 16,
      // Re-read the slot map often, so a promoted replica is found even by a connection that saw no MOVED.
      slotsRefreshInterval: 1000,
      slotsRefreshTimeout: 1000,
      clusterRetryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      redisOptions: { ...perNode, ...authOptions(target.auth) },
      // With TLS the certificate names the host as given, not the address the cluster reports.
      ...(target.auth.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    };
    redis = new Cluster(target.nodes, clusterOptions);
  }
  let down = false;
  redis.on('error', (err) => {
    if (!down) log.warn({ err: err.message, connection: name }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info({ connection: name }, 'redis connection restored');
    down = false;
  });
  return redis;
}

/** How long blocking reads (XREADGROUP, XREAD) wait on the server before returning empty and looping. */
export const BLOCKING_READ_MS = 2000;

/**
 * Options that make a silently dead connection (a partition: no RST, no reply) fail instead of hanging: with
 * commands outstanding and no byte received for timeoutMs (plus the block time of a blocking read), the socket is
 * destroyed and the client reconnects; meanwhile commands fail at once (no offline queue), so requests get 503.
 */
export function deadConnectionOptions(timeoutMs: number, blockMs = 0): RedisOptions {
  return { socketTimeout: timeoutMs + blockMs, connectTimeout: timeoutMs };
}

/** Resolves when the connection is ready, or rejects after timeoutMs. */
export function whenReady(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
