/**
 * Reading the model-host registry (Keys.registry: host id → heartbeat expiry, and each host's heartbeat hash),
 * written by src/host/heartbeat.ts: the one scan that /readyz, the model metadata routes, version routing, the
 * repository index and the management API all use.
 *
 * A host is live while its heartbeat has not expired. A host that stopped (killed, or closed for a restart) stays
 * in the registry, expired, for HOST_RESTART_GRACE_MS: `recentMs` also returns those, for what must keep going
 * while a restarting host comes back (version routing), never for readiness.
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { decodeHeartbeat, type HostHeartbeat } from '../wire/heartbeat.ts';

export interface RegisteredHost extends HostHeartbeat {
  id: string;
}

/** Ids of the hosts whose heartbeat is fresh, or expired less than `recentMs` ago. */
export function hostIds(redis: RedisClient, keys: Keys, recentMs = 0): Promise<string[]> {
  return redis.zrangebyscore(keys.registry, Date.now() - recentMs, '+inf');
}

/** The hosts whose heartbeat is fresh (or expired less than `recentMs` ago), each with its decoded hash. */
export async function readHosts(redis: RedisClient, keys: Keys, recentMs = 0): Promise<RegisteredHost[]> {
  const ids = await hostIds(redis, keys, recentMs);
  if (ids.length === 0) return [];
  // One slot: the registry and every host's hash share the deployment's hash tag.
  const tx = redis.multi();
  for (const id of ids) tx.hgetall(keys.hostInfo(id));
  const replies = (await tx.exec()) ?? [];
  const hosts: RegisteredHost[] = [];
  replies.forEach(([err, value], i) => {
    const h = err ? undefined : decodeHeartbeat(value as Record<string, string> | null);
    if (h) hosts.push({ id: ids[i]!, ...h }); // else its hash expired between the two reads
  });
  return hosts;
}
