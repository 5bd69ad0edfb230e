/**
 * POST /v2/repository/index: every model and version the live model hosts hold, with its state across hosts,
 * and the models unloaded through the management API (state `unavailable`).
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { managementKeys, parseControl } from '../wire/management.ts';
import { VERSION_STATES, type VersionState, type VersionStatus } from '../wire/versions.ts';

/** The host-info hash field where a host reports its versions: JSON, model name → VersionStatus[]. */
export const HOST_VERSIONS_FIELD = 'versions';

export interface IndexEntry {
  name: string;
  /** A string, as the Open Inference Protocol's model-repository extension has it. */
  version?: string;
  state: VersionState | 'unavailable';
  reason?: string;
  /** How many live hosts hold the version in each state. */
  hosts: Partial<Record<VersionState, number>>;
}

/** The versions one host reports: its `versions` field, or (hosts that do not report versions) version 1 ready. */
export function hostVersions(info: Record<string, string>): Record<string, VersionStatus[]> {
  const text = info[HOST_VERSIONS_FIELD];
  if (text) {
    try {
      const value = JSON.parse(text) as unknown;
      if (value !== null && typeof value === 'object') return value as Record<string, VersionStatus[]>;
    } catch {
      // a malformed report counts as none
    }
  }
  const names: string[] = [];
  if (info.model) names.push(info.model);
  try {
    // Hosts serving several models list them as a JSON array of {name, ...} in `models`.
    const served = info.models ? (JSON.parse(info.models) as unknown) : [];
    if (Array.isArray(served)) for (const m of served) if (typeof m?.name === 'string') names.push(m.name);
  } catch {
    // a malformed list counts as none
  }
  return Object.fromEntries(names.map((name) => [name, [{ version: 1, state: 'ready' }]]));
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
  const ids = await redis.zrangebyscore(keys.registry, Date.now(), '+inf');
  const infos = await Promise.all(ids.map((id) => redis.hgetall(keys.hostInfo(id))));
  const controls = await redis.hgetall(managementKeys(keys).control);
  const unloaded = new Map<string, string>();
  for (const [model, text] of Object.entries(controls)) {
    const control = parseControl(text);
    if (control?.action === 'unload')
      unloaded.set(model, `unloaded by ${control.by} at ${new Date(control.at).toISOString()}`);
  }
  return buildIndex(infos.filter((i) => Object.keys(i).length > 0).map(hostVersions), unloaded);
}
