/**
 * The request streams' depth, read at scrape time for GET /metrics: per serving name (a model, or `model@version`
 * for versions above 1, as every per-model metric is labelled), XLEN and XPENDING summed over its shards.
 */
import type { RedisClient } from '../redis/connect.ts';
import { CONSUMER_GROUP, modelKeys, type Keys } from '../wire/keys.ts';

export interface QueueDepth {
  serving: string;
  /** Entries queued or being processed, not yet acknowledged (XLEN). */
  depth: number;
  /** Entries delivered to a model host, not yet acknowledged (XPENDING). */
  pending: number;
}

type Reply = [Error | null, unknown];

export async function readQueueDepths(
  redis: RedisClient,
  keys: Keys,
  serving: readonly string[],
): Promise<QueueDepth[]> {
  const perShard = serving.flatMap((name) => modelKeys(keys, name).shards.map((shard) => ({ name, shard })));
  // One MULTI per shard: a cluster refuses transactions across slots.
  const replies = await Promise.all(
    perShard.map(({ shard }) => redis.multi().xlen(shard.requests).xpending(shard.requests, CONSUMER_GROUP).exec()),
  );
  const depths = new Map(serving.map((name) => [name, { serving: name, depth: 0, pending: 0 }]));
  replies.forEach((reply, i) => {
    if (reply?.length !== 2) throw new Error('MULTI answered without its two replies');
    const [[, xlen], [pendErr, pend]] = reply as [Reply, Reply];
    const entry = depths.get(perShard[i]!.name)!;
    entry.depth += Number(xlen);
    // NOGROUP until the first host serving it has started: nothing can be pending then.
    if (!pendErr) entry.pending += Number((pend as [number])[0] ?? 0);
  });
  return [...depths.values()];
}
