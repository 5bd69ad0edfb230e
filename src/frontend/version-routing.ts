/**
 * Which version of a model a request goes to. Model hosts report each version's state (host-info field
 * `versions`); a front end keeps a view of them, refreshed every VERSION_REFRESH_MS, and sends an unpinned
 * request to the newest version ready on some host, a pinned one (`?version=`, `/versions/{v}/`) to that version.
 */
import type { Logger } from '../observability/logger.ts';
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { readHosts } from '../registry/host-registry.ts';
import { newestReady, versionedModelName, type VersionStatus } from '../wire/versions.ts';

export const VERSION_PARAM = /^[1-9][0-9]{0,8}$/;

export type VersionChoice =
  | { ok: true; version: number; serving: string }
  | { ok: false; code: 'MODEL_NOT_FOUND' | 'NOT_READY'; message: string };

/** Every host's reports merged: model → all its versions' states (one entry per host and version). */
export type VersionReports = ReadonlyMap<string, readonly VersionStatus[]>;

export function chooseVersion(reports: VersionReports, model: string, pinned?: number): VersionChoice {
  const statuses = reports.get(model);
  // A model no host reports versions for is served unversioned (version 1), as before versions existed.
  if (!statuses || statuses.length === 0)
    return pinned === undefined || pinned === 1 ? { ok: true, version: 1, serving: model } : notFound(model, pinned);
  // A version loading goes to admission, which knows the moment a host has it ready (this view lags by
  // VERSION_REFRESH_MS) and refuses 503 NOT_READY until then.
  if (pinned === undefined) {
    const newest = newestReady(statuses) ?? newestLoading(statuses);
    if (newest !== undefined) return { ok: true, version: newest, serving: versionedModelName(model, newest) };
    return { ok: false, code: 'NOT_READY', message: `No version of model ${model} is ready yet.` };
  }
  const mine = statuses.filter((s) => s.version === pinned);
  if (mine.some((s) => s.state === 'ready' || s.state === 'loading'))
    return { ok: true, version: pinned, serving: versionedModelName(model, pinned) };
  if (mine.some((s) => s.state === 'unloading')) {
    return { ok: false, code: 'NOT_READY', message: `Version ${pinned} of model ${model} is ${mine[0]!.state}.` };
  }
  const failed = mine.find((s) => s.state === 'failed');
  return notFound(model, pinned, failed?.reason);
}

function newestLoading(statuses: readonly VersionStatus[]): number | undefined {
  const loading = statuses.filter((s) => s.state === 'loading').map((s) => s.version);
  return loading.length > 0 ? Math.max(...loading) : undefined;
}

function notFound(model: string, version: number, reason?: string): VersionChoice {
  return {
    ok: false,
    code: 'MODEL_NOT_FOUND',
    message: `Version ${version} of model ${model} is not served${reason ? ` (it failed to load: ${reason})` : ''}.`,
  };
}

export function mergeReports(perHost: ReadonlyArray<Record<string, VersionStatus[]>>): Map<string, VersionStatus[]> {
  const merged = new Map<string, VersionStatus[]>();
  for (const models of perHost) {
    for (const [model, versions] of Object.entries(models)) {
      if (!Array.isArray(versions)) continue;
      merged.set(model, [...(merged.get(model) ?? []), ...versions]);
    }
  }
  return merged;
}

/** The version a request goes to, from the front end's view when it has one (else: version 1 only). */
export function chooseServing(view: VersionView | undefined, model: string, pinned?: number): VersionChoice {
  return view ? view.choose(model, pinned) : chooseVersion(new Map(), model, pinned);
}

/** The front end's view of the live hosts' versions. */
export class VersionView {
  private reports: VersionReports = new Map();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly refreshMs: number,
    private readonly log: Logger,
    /** Hosts gone less than this ago still count (HOST_RESTART_GRACE_MS): their requests wait for the restart. */
    private readonly recentMs = 0,
  ) {}

  choose(model: string, pinned?: number): VersionChoice {
    return chooseVersion(this.reports, model, pinned);
  }

  /** The versions of a model ready on some host, ascending ([1] for a model without version reports). */
  readyVersions(model: string): number[] {
    const statuses = this.reports.get(model);
    if (!statuses || statuses.length === 0) return [1];
    return [...new Set(statuses.filter((s) => s.state === 'ready').map((s) => s.version))].sort((a, b) => a - b);
  }

  /** Every version of a model some host reports, in any state, ascending ([1] for a model without reports). */
  knownVersions(model: string): number[] {
    const statuses = this.reports.get(model);
    if (!statuses || statuses.length === 0) return [1];
    return [...new Set(statuses.map((s) => s.version))].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads the hosts' reports now (also after an admission was refused for a version that just went away). */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const hosts = await readHosts(this.redis, this.keys, this.recentMs);
        this.reports = mergeReports(hosts.map((h) => h.versions));
      } catch (err) {
        // Keep the last view: admission fails on its own while Redis is down.
        this.log.debug({ err: (err as Error).message }, 'version view: refresh failed');
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
