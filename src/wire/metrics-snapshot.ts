/**
 * The per-process metrics snapshots behind the deployment-wide GET /metrics (see observability/metrics-publisher.ts):
 *
 *   {prefix}:metrics:procs        sorted set  process id → snapshot expiry (epoch ms)
 *   {prefix}:metrics:<process id> string      JSON of prom-client's getMetricsAsJSON(), PEXPIRE 3 × the push interval
 */
import type { Keys } from './keys.ts';

/** prom-client's registry.getMetricsAsJSON(): one object per metric. */
export type MetricsSnapshot = object[];

export interface MetricsKeys {
  procs: string;
  snapshot(processId: string): string;
}

export function metricsKeys(keys: Pick<Keys, 'base'>): MetricsKeys {
  return { procs: `${keys.base}:metrics:procs`, snapshot: (id) => `${keys.base}:metrics:${id}` };
}

export function encodeSnapshot(snapshot: MetricsSnapshot): string {
  return JSON.stringify(snapshot);
}

/** undefined for a missing (expired), torn or foreign value: such a value must not break a scrape. */
export function decodeSnapshot(raw: string | null | undefined): MetricsSnapshot | undefined {
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return Array.isArray(value) && value.every((m) => typeof m === 'object' && m !== null) ? value : undefined;
  } catch {
    return undefined;
  }
}
