/**
 * Every Redis key and stream name of a deployment, derived from one prefix: the single definition of the key
 * layout. Keys are hash-tagged so that each group that one command or script touches shares a Redis Cluster slot:
 *
 *   {prefix}:hosts, {prefix}:host:<id>      registry of live model hosts (shard 0's slot)
 *   {prefix}:requests, {prefix}:hosts       shard 0 (with REQUEST_SHARDS=1 the only shard: the classic layout)
 *   {<tag i>}:requests, {<tag i>}:hosts     shard i > 0: its tag is chosen so its slot lies in the i-th
 *                                            S-th of the slot space, so S shards land on S primaries of an
 *                                            evenly split cluster (redis-cli --cluster create's layout)
 *   {prefix:fe:<id>}:reply                  one front end's reply stream, in that front end's own slot
 *
 * Each shard carries its own copy of the live-host set (written by every heartbeat) so admission stays one
 * single-slot script per shard.
 *
 * Several models: each model has its own request stream and live-host set in every shard,
 * `{<tag i>}:requests:<model>` and `{<tag i>}:hosts:<model>` (modelKeys), so a batch never mixes models and a
 * request is admitted only while a host serving its model is live. The registry ({prefix}:hosts) lists every host.
 */
import calculateSlot from 'cluster-key-slot';

export const CONSUMER_GROUP = 'model-hosts';
export const CLUSTER_SLOTS = 16384;

export interface ShardKeys {
  index: number;
  /** Stream of request entries (REQUEST_FIELDS), read by model hosts through CONSUMER_GROUP. */
  requests: string;
  /** Sorted set in the shard's slot: model host id → heartbeat expiry (epoch ms), for admission and re-claims. */
  liveHosts: string;
}

export interface Keys {
  /** The request streams, REQUEST_SHARDS of them, each in its own slot. */
  shards: readonly ShardKeys[];
  /** Shard 0's request stream (the only one with REQUEST_SHARDS=1). */
  requests: string;
  /** Sorted set: model host id → heartbeat expiry (epoch ms): the registry of every host, whatever it serves. */
  registry: string;
  /** Hash with one live model host's description (model, engine, backend); expires with its heartbeat. */
  hostInfo(hostId: string): string;
  /** Reply stream owned by one front-end process, hash-tagged with that front end's id. */
  replies(frontendId: string): string;
  /** Base of the deployment's other keys (metrics snapshots), in shard 0's slot. */
  base: string;
}

/** The Redis Cluster slot of a key (CRC16 of its hash tag). */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/**
 * Hash tags of the S shards: shard 0 keeps the prefix; the others take `prefix:s<i>` or `prefix:s<i>.<n>` with
 * the smallest n whose slot falls in a part of the slot space (of S equal parts) no other shard holds yet.
 */
export function shardTags(prefix: string, shards: number): string[] {
  const part = (slot: number) => Math.floor((slot * shards) / CLUSTER_SLOTS);
  const taken = new Set([part(slotOf(`{${prefix}}`))]);
  const tags = [prefix];
  for (let i = 1; i < shards; i++) {
    for (let n = 0; ; n++) {
      const tag = n === 0 ? `${prefix}:s${i}` : `${prefix}:s${i}.${n}`;
      const p = part(slotOf(`{${tag}}`));
      if (taken.has(p)) continue;
      taken.add(p);
      tags.push(tag);
      break;
    }
  }
  return tags;
}

export function keysFor(prefix: string, shards = 1): Keys {
  const p = `{${prefix}}`;
  const shardKeys = shardTags(prefix, shards).map((tag, index) => ({
    index,
    requests: `{${tag}}:requests`,
    liveHosts: `{${tag}}:hosts`,
  }));
  return {
    shards: shardKeys,
    requests: shardKeys[0]!.requests,
    registry: `${p}:hosts`,
    hostInfo: (hostId) => `${p}:host:${hostId}`,
    replies: (frontendId) => `{${prefix}:fe:${frontendId}}:reply`,
    base: p,
  };
}

/**
 * One model's view of the layout: the same keys, with that model's request streams and live-host sets as the
 * shards (the registry stays the deployment's). Consumers, publishers and admission take this view and need not
 * know about models.
 */
export function modelKeys(keys: Keys, model: string): Keys {
  // Memoised: callers keep per-Keys state (admission's shard picker) in WeakMaps keyed by the view.
  let views = modelViews.get(keys);
  if (!views) modelViews.set(keys, (views = new Map()));
  let view = views.get(model);
  if (!view) {
    const shards = keys.shards.map((s) => ({
      index: s.index,
      requests: `${s.requests}:${model}`,
      liveHosts: `${s.liveHosts}:${model}`,
    }));
    views.set(model, (view = { ...keys, shards, requests: shards[0]!.requests }));
  }
  return view;
}
const modelViews = new WeakMap<Keys, Map<string, Keys>>();

/**
 * A request entry's fields: `XADD <requests> * meta <msgpack RequestMeta> image|tensor <bytes>` (envelope.ts).
 * `m` is wire version 1's single msgpack field (bytes inside), still read by hosts during an upgrade.
 */
export const REQUEST_FIELDS = { meta: 'meta', image: 'image', tensor: 'tensor', legacy: 'm' } as const;

/** The field of a reply-stream entry that carries the msgpack Result. */
export const RESULT_FIELD = 'm';
