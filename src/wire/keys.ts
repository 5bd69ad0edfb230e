/**
 * Every Redis key and stream name of a deployment, derived from one prefix. The prefix is hash-tagged
 * (`{cls}`) so that in Redis Cluster the request stream, reply streams and host registry share one slot.
 */
export const CONSUMER_GROUP = 'model-hosts';

export interface Keys {
  /** Stream of request envelopes, read by model hosts through CONSUMER_GROUP. */
  requests: string;
  /** Sorted set: model host id → heartbeat expiry (epoch ms). */
  hosts: string;
  /** Hash with one live model host's description (model, engine, backend); expires with its heartbeat. */
  hostInfo(hostId: string): string;
  /** Reply stream owned by one front-end process. */
  replies(frontendId: string): string;
}

export function keysFor(prefix: string): Keys {
  const p = `{${prefix}}`;
  return {
    requests: `${p}:requests`,
    hosts: `${p}:hosts`,
    hostInfo: (hostId) => `${p}:host:${hostId}`,
    replies: (frontendId) => `${p}:reply:${frontendId}`,
  };
}

/** The field of a stream entry that carries the msgpack body. */
export const ENVELOPE_FIELD = 'm';
