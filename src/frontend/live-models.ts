/**
 * What the live model hosts serve, read from their heartbeats (src/host/heartbeat.ts): for /readyz, GET
 * /v1/models and the Open Inference Protocol's model metadata and readiness.
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { buildIndex, type IndexEntry } from '../admin/repository-index.ts';
import type { ServedModel } from '../wire/heartbeat.ts';
import { readHosts, type RegisteredHost } from '../registry/host-registry.ts';

export interface ModelInfo extends Omit<ServedModel, 'labels' | 'input' | 'preprocessing' | 'output'> {
  input?: ServedModel['input'];
  preprocessing?: ServedModel['preprocessing'];
  output?: string;
  labels?: string[];
  /** Live model hosts serving it with this engine and batch size. */
  hosts: number;
  /** Every version of the model the live hosts hold, with its state across them. */
  versions?: Array<{ version: number; state: IndexEntry['state']; reason?: string; hosts: IndexEntry['hosts'] }>;
}

/** One entry per distinct (model, format, engine, backend, maxBatch) served by live hosts. */
export function groupModels(hosts: readonly RegisteredHost[]): ModelInfo[] {
  const models = new Map<string, ModelInfo>();
  for (const host of hosts) {
    for (const m of host.models) {
      const key = [m.name, m.version ?? 1, m.format, m.engine, m.backend, m.maxBatch].join('\u0000');
      const seen = models.get(key);
      if (seen) seen.hosts++;
      else models.set(key, { ...m, hosts: 1 });
    }
  }
  return [...models.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** GET /v1/models: the grouped entries, each with every version of its model and the versions' states. */
export async function readModels(redis: RedisClient, keys: Keys): Promise<ModelInfo[]> {
  const hosts = await readHosts(redis, keys);
  const index = buildIndex(
    hosts.map((h) => h.versions),
    new Map(),
  );
  return groupModels(hosts).map((m) => ({
    ...m,
    versions: index
      .filter((e) => e.name === m.name)
      .map((e) => ({
        version: Number(e.version),
        state: e.state,
        ...(e.reason && { reason: e.reason }),
        hosts: e.hosts,
      })),
  }));
}
