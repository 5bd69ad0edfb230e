/**
 * POST /v2/repository/index: every model and version the live model hosts hold, with its state across hosts,
 * and the models unloaded through the management API (state `unavailable`).
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { keptUnloads, managementKeys } from '../wire/management.ts';
import { readHosts } from '../registry/host-registry.ts';
import { VERSION_STATES, type VersionState, type VersionStatus } from '../wire/versions.ts';

export interface IndexEntry {
  name: string;
  /** A string, as the Open Inference Protocol's model-repository extension has it. */
  version?: string;
  state: VersionState | 'unavailable';
  reason?: string;
  /** How many live hosts hold the version in each state. */
  hosts: Partial<Record<VersionState, number>>;
}

/** A version's state across hosts: ready where any host serves it, else the furthest-along state. */
function overall(hosts: Partial<Record<VersionState, number>>): VersionState {
  for (const state of ['ready', 'loading', 'unloading'] as const) if (hosts[state]) return state;
  return 'failed';
}

export function buildIndex(
  perHost: ReadonlyArray<Record<string, VersionStatus[]>>,
  unloaded: ReadonlyMap<string, string>,
): IndexEntry[] {
  const entries = new Map<string, IndexEntry & { reasons: Set<string> }>();
  for (const models of perHost) {
    for (const [name, versions] of Object.entries(models)) {
      if (!Array.isArray(versions)) continue;
      for (const v of versions) {
        if (!Number.isInteger(v?.version) || !VERSION_STATES.includes(v.state)) continue;
        const key = `${name}\u0000${v.version}`;
        const entry = entries.get(key) ?? {
          name,
          version: String(v.version),
          state: 'failed',
          hosts: {},
          reasons: new Set<string>(),
        };
        entry.hosts[v.state] = (entry.hosts[v.state] ?? 0) + 1;
        if (v.reason) entry.reasons.add(v.reason);
        entries.set(key, entry);
      }
    }
  }
  const list: IndexEntry[] = [...entries.values()].map(({ reasons, ...e }) => {
    const state = overall(e.hosts);
    return { ...e, state, ...(state === 'failed' && reasons.size > 0 ? { reason: [...reasons].join('; ') } : {}) };
  });
  for (const [name, reason] of unloaded)
    if (!list.some((e) => e.name === name)) list.push({ name, state: 'unavailable', reason, hosts: {} });
  return list.sort((a, b) => a.name.localeCompare(b.name) || Number(a.version ?? 0) - Number(b.version ?? 0));
}

export async function readIndex(redis: RedisClient, keys: Keys): Promise<IndexEntry[]> {
  const [hosts, controls] = await Promise.all([readHosts(redis, keys), redis.hgetall(managementKeys(keys).control)]);
  const reasons = new Map(
    [...keptUnloads(controls)].map(([model, c]) => [model, `unloaded by ${c.by} at ${new Date(c.at).toISOString()}`]),
  );
  return buildIndex(
    hosts.map((h) => h.versions),
    reasons,
  );
}
