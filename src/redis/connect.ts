/**
 * Redis connections. Commands fail at once while Redis is unreachable (no offline queue), so a request never
 * waits on a dead connection; the client reconnects on its own with a capped backoff.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

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

export function connectRedis(url: string, name: string, log: Logger, extra: RedisOptions = {}): Redis {
  const unix = unixSocketOptions(url);
  const options: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    lazyConnect: false,
    ...extra,
  };
  const redis = unix ? new Redis({ ...unix, ...options }) : new Redis(url, options);
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

/** Resolves when the connection is ready, or rejects after timeoutMs. */
export function whenReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
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
