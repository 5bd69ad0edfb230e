/**
 * admitRequest: one atomic round trip that queues a request on one request shard only if some model host serving
 * its model is live, or was within HOST_RESTART_GRACE_MS (a host restarting: the request waits for it), and that
 * shard's queue (entries not yet acknowledged) is below its share of MAX_QUEUE entries and of
 * MAX_QUEUE_BYTES bytes. A Redis that refuses the write for memory (OOM) counts as full too. The stream is never
 * trimmed: an accepted request is never silently dropped; overload is refused up front instead.
 *
 * The script touches only one shard's keys (its stream and its copy of the live-host set), so it runs in one
 * Redis Cluster slot. The bound is per shard: ceil(MAX_QUEUE / REQUEST_SHARDS), so the deployment-wide total
 * stays within MAX_QUEUE + REQUEST_SHARDS − 1.
 */
import { REQUEST_FIELDS, type Keys } from '../wire/keys.ts';
import type { RequestEntry } from '../wire/envelope.ts';
import type { RedisClient } from '../redis/connect.ts';
import { UnjoinedScript } from '../redis/unjoined-script.ts';
import { ShardPicker } from './shard-picker.ts';

// Bytes are the stream's own memory in Redis (MEMORY USAGE ... SAMPLES 0: exact, about 20 µs at 1,024 entries),
// so what maxmemory bounds is what admission counts, and nothing can drift as a separate counter could.
// KEYS: stream, live hosts. ARGV: now, max entries, max bytes, meta field, meta, bytes field, bytes.
const admitScript = new UnjoinedScript(
  `
if redis.call('ZCOUNT', KEYS[2], ARGV[1], '+inf') == 0 then return 'NOHOST' end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 'FULL' end
local bytes = redis.call('MEMORY', 'USAGE', KEYS[1], 'SAMPLES', '0') or 0
if bytes + string.len(ARGV[5]) + string.len(ARGV[7]) > tonumber(ARGV[3]) then return 'FULL' end
return redis.call('XADD', KEYS[1], '*', ARGV[4], ARGV[5], ARGV[6], ARGV[7])
`,
  2,
);

export type Admission = 'queued' | 'no-host' | 'full';

/** The deployment-wide bounds admission enforces (config keys of the same names). */
export interface QueueBounds {
  MAX_QUEUE: number;
  MAX_QUEUE_BYTES: number;
  /** A host whose heartbeat expired less than this ago still counts: its requests wait for its restart. */
  HOST_RESTART_GRACE_MS: number;
}

/** The bounds as the configuration sets them. */
export function queueBounds(config: QueueBounds): QueueBounds {
  const { MAX_QUEUE, MAX_QUEUE_BYTES, HOST_RESTART_GRACE_MS } = config;
  return { MAX_QUEUE, MAX_QUEUE_BYTES, HOST_RESTART_GRACE_MS };
}

/** Redis refused a write for memory (maxmemory with noeviction): overload, not an outage. */
function isOutOfMemory(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('OOM ');
}

/** One picker per key layout (one per front end in practice): its round-robin position and shard health. */
const pickers = new WeakMap<Keys, ShardPicker>();

/** Each shard's share of a deployment-wide bound (MAX_QUEUE, MAX_QUEUE_BYTES). */
export function shardQueueBound(maxQueue: number, shards: number): number {
  return Math.ceil(maxQueue / shards);
}

/**
 * Queues the entry on the next shard in round-robin order. A full shard, or one whose Redis failed (a primary
 * failing over), passes the request to the next shard, so one shard's trouble costs no request while another has
 * room; only when every shard refuses does the caller see 'full' or the error. A command that failed in flight may
 * have been queued anyway; a second copy is answered twice and the front end drops the later answer. The bytes are
 * written to each shard's connection as they are: a retry re-sends them without encoding or copying them again.
 */
export async function admitRequest(
  redis: RedisClient,
  keys: Keys,
  bounds: QueueBounds,
  entry: RequestEntry,
): Promise<Admission> {
  let picker = pickers.get(keys);
  if (!picker) pickers.set(keys, (picker = new ShardPicker(keys.shards.length)));
  const bound = shardQueueBound(bounds.MAX_QUEUE, keys.shards.length);
  const byteBound = shardQueueBound(bounds.MAX_QUEUE_BYTES, keys.shards.length);
  let sawFull = false;
  let lastError: unknown;
  for (const index of picker.order()) {
    const shard = keys.shards[index]!;
    try {
      const reply = await admitScript.run(
        redis,
        [shard.requests, shard.liveHosts],
        [
          Date.now() - bounds.HOST_RESTART_GRACE_MS,
          bound,
          byteBound,
          REQUEST_FIELDS.meta,
          entry.meta,
          entry.field,
          entry.bytes,
        ],
      );
      picker.succeeded(index);
      if (reply === 'NOHOST') return 'no-host';
      if (reply !== 'FULL') return 'queued';
      sawFull = true;
    } catch (err) {
      if (isOutOfMemory(err)) {
        picker.succeeded(index);
        sawFull = true;
        continue;
      }
      picker.failed(index);
      lastError = err;
    }
  }
  if (sawFull || lastError === undefined) return 'full';
  throw lastError;
}
