/**
 * The response cache (RESPONSE_CACHE, a model's config.json): a front end answers an image it has seen before,
 * for the same model version and declared preprocessing, from Redis, with no round trip to a model host. The
 * key layout and value are in src/wire/response-cache.ts; /predict and /v2 share the entries.
 *
 * Never stale: the key holds the version and a signature of the declared preprocessing. Never in the way: a Redis
 * error on the cache path is a miss (counted), and the request goes on to a host as usual. Bounded: one script
 * writes an entry and evicts the entries nearest to expiry until the counted bytes fit RESPONSE_CACHE_MAX_BYTES.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import type { ResponseCacheMetrics } from '../observability/metrics.ts';
import type { RedisClient } from '../redis/connect.ts';
import { UnjoinedScript } from '../redis/unjoined-script.ts';
import { join } from 'node:path';
import type { RepositoryModel } from '../model/repository.ts';
import { readMetadata } from '../model/metadata.ts';
import { hasVersionDir } from '../model/versions.ts';
import {
  decodeCachedScores,
  imageDigest,
  preprocessingSignature,
  type ResponseCacheKeys,
} from '../wire/response-cache.ts';

/**
 * Bytes counted per entry beyond its key (held three times: the string, the index, the sizes hash) and value:
 * Redis's own bookkeeping of those three (measured with MEMORY USAGE in test/integration/response-cache.test.ts).
 */
export const ENTRY_OVERHEAD_BYTES = 288;

// KEYS: entry, index, sizes, bytes. ARGV: value, ttl ms, now ms, bound, overhead. Returns {bytes counted, evicted}.
const storeScript = new UnjoinedScript(
  `
local size = 3 * string.len(KEYS[1]) + string.len(ARGV[1]) + tonumber(ARGV[5])
local bound = tonumber(ARGV[4])
if size > bound then return {0, 0} end
local now = tonumber(ARGV[3])
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
local evicted = 0
local function drop(k)
  total = total - tonumber(redis.call('HGET', KEYS[3], k) or '0')
  redis.call('HDEL', KEYS[3], k)
  redis.call('ZREM', KEYS[2], k)
  redis.call('DEL', k)
end
if redis.call('HEXISTS', KEYS[3], KEYS[1]) == 1 then drop(KEYS[1]) end
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 64)) do drop(k) end
while total + size > bound do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #oldest == 0 then total = 0 break end
  drop(oldest[1])
  evicted = evicted + 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], size)
redis.call('SET', KEYS[4], total + size)
return {size, evicted}
`,
  4,
);

const WARN_EVERY_MS = 10_000;

/** One model version's part of the cache, fixed for the life of the front end. */
export interface CacheScope {
  /** The model's name (the metric label). */
  model: string;
  labels: readonly string[];
  entryBase: string;
  ttlMs: number;
}

export type CacheLookup = { key: string; scores: Float32Array | undefined };

export class ResponseCache {
  private readonly scopes = new Map<string, Promise<CacheScope | undefined>>();
  private lastWarnAt = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ResponseCacheKeys,
    private readonly config: Pick<Config, 'RESPONSE_CACHE' | 'RESPONSE_CACHE_TTL_S' | 'RESPONSE_CACHE_MAX_BYTES'>,
    private readonly metrics: ResponseCacheMetrics,
    private readonly log: Logger,
  ) {}

  /** Whether any model of the repository is cached (else the front end needs no cache at all). */
  static wanted(config: Pick<Config, 'RESPONSE_CACHE'>, models: readonly RepositoryModel[]): boolean {
    return models.some((m) => m.config.response_cache?.enable ?? config.RESPONSE_CACHE === 'on');
  }

  /**
   * The scope of a model version, or undefined when that model is not cached. Labels and signature come from
   * that version's own metadata.json, which may differ from the newest's; unreadable: that version is not cached.
   */
  scope(model: RepositoryModel, version: number): Promise<CacheScope | undefined> {
    const id = `${model.name}@${version}`;
    let scope = this.scopes.get(id);
    if (!scope) this.scopes.set(id, (scope = this.newScope(model, version)));
    return scope;
  }

  private async newScope(model: RepositoryModel, version: number): Promise<CacheScope | undefined> {
    const settings = model.config.response_cache;
    if (!(settings?.enable ?? this.config.RESPONSE_CACHE === 'on')) return undefined;
    let meta = model.meta;
    try {
      if (hasVersionDir(model.dir)) meta = await readMetadata(join(model.dir, String(version)));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, model: model.name, version }, 'response cache: version not cached');
      return undefined;
    }
    return {
      model: model.name,
      labels: meta.labels,
      entryBase: this.keys.entryBase(model.name, version, preprocessingSignature(meta)),
      ttlMs: (settings?.ttl_s ?? this.config.RESPONSE_CACHE_TTL_S) * 1000,
    };
  }

  /** The image's entry key and, on a hit, its probabilities. A Redis error is a miss (counted as both). */
  async lookup(scope: CacheScope, image: Uint8Array): Promise<CacheLookup> {
    const key = scope.entryBase + imageDigest(image);
    let scores: Float32Array | undefined;
    try {
      const value = await this.redis.getBuffer(key);
      scores = value ? decodeCachedScores(value, scope.labels.length) : undefined;
    } catch (err) {
      this.failed(scope, err as Error, 'lookup');
    }
    (scores ? this.metrics.hits : this.metrics.misses).labels(scope.model).inc();
    return { key, scores };
  }

  /** Writes an answer in the background; a failure is counted and logged, never the request's concern. */
  store(scope: CacheScope, key: string, scores: Uint8Array): void {
    if (scores.byteLength !== scope.labels.length * 4) return;
    const args = [scores, scope.ttlMs, Date.now(), this.config.RESPONSE_CACHE_MAX_BYTES, ENTRY_OVERHEAD_BYTES];
    storeScript.run(this.redis, [key, this.keys.index, this.keys.sizes, this.keys.bytes], args).then(
      (reply) => {
        const [bytes, evicted] = reply as [number, number];
        this.metrics.storedBytes.labels(scope.model).inc(bytes);
        if (evicted > 0) this.metrics.evictions.labels(scope.model).inc(evicted);
      },
      (err: Error) => this.failed(scope, err, 'store'),
    );
  }

  private failed(scope: CacheScope, err: Error, step: string): void {
    this.metrics.errors.labels(scope.model).inc();
    // One line per WARN_EVERY_MS at most: under an outage every request would log one (the counter has them all).
    if (Date.now() - this.lastWarnAt < WARN_EVERY_MS) return;
    this.lastWarnAt = Date.now();
    this.log.warn({ err: err.message, model: scope.model, step }, 'response cache: redis failed, served without it');
  }
}
