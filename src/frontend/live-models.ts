/**
 * What the live model hosts serve, read from their heartbeats (src/host/heartbeat.ts): for /readyz, GET
 * /v1/models and the Open Inference Protocol's model metadata and readiness.
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { decodeHeartbeat, type HostHeartbeat, type ServedModel } from '../wire/heartbeat.ts';

export interface LiveHost extends HostHeartbeat {
  id: string;
}

export interface ModelInfo extends Omit<ServedModel, 'labels' | 'input' | 'preprocessing' | 'output'> {
  input?: ServedModel['input'];
  preprocessing?: ServedModel['preprocessing'];
  output?: string;
  labels?: string[];
  /** Live model hosts serving it with this engine and batch size. */
  hosts: number;
}

/** The hosts with a fresh heartbeat and the models each serves. */
export async function readLiveHosts(redis: RedisClient, keys: Keys): Promise<LiveHost[]> {
  const ids = await redis.zrangebyscore(keys.hosts, Date.now(), '+inf');
  if (ids.length === 0) return [];
  const tx = redis.multi();
  for (const id of ids) tx.hgetall(keys.hostInfo(id));
  const replies = (await tx.exec()) ?? [];
  const hosts: LiveHost[] = [];
  replies.forEach(([err, value], i) => {
    const h = err ? undefined : decodeHeartbeat(value as Record<string, string> | null);
    if (h) hosts.push({ id: ids[i]!, ...h }); // else expired between the two reads
  });
  return hosts;
}

/** One entry per distinct (model, format, engine, backend, maxBatch) served by live hosts. */
export function groupModels(hosts: readonly LiveHost[]): ModelInfo[] {
  const models = new Map<string, ModelInfo>();
  for (const host of hosts) {
    for (const m of host.models) {
      const key = [m.name, m.format, m.engine, m.backend, m.maxBatch].join('\u0000');
      const seen = models.get(key);
      if (seen) seen.hosts++;
      else models.set(key, { ...m, hosts: 1 });
    }
  }
  return [...models.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export async function readModels(redis: RedisClient, keys: Keys): Promise<ModelInfo[]> {
  return groupModels(await readLiveHosts(redis, keys));
}
