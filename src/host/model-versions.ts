/**
 * The versions of one model inside a model host, and the switch between them without a failed request:
 *
 *   sync()       reads the model directory (numbered versions, config.json policy); every selected version not
 *                held yet is loaded beside the current ones (state loading); once loaded and warmed up it is
 *                ready and starts taking its requests. A version that fails to load or warm up is `failed` with
 *                its reason and never takes traffic. Only when every selected version is ready (or failed) and
 *                `switchGraceMs` has passed (front ends have seen the new version and moved the unpinned
 *                traffic) are the versions no longer selected unloaded.
 *   unload       a version is reported unloading while it still takes requests, so front ends move its unpinned
 *                traffic; after `switchGraceMs` the host leaves its live-host sets (no front end admits more),
 *                reads what was admitted before, answers all it holds, then frees its memory and is gone.
 *
 * The newest ready version takes the unpinned traffic (front ends choose, from the states hosts report).
 * Each step reports the new states through `onChange`, which the heartbeat publishes.
 */
import type { Logger } from '../observability/logger.ts';
import { scanModelVersions, type VersionDir } from '../model/versions.ts';
import type { VersionState, VersionStatus } from '../wire/versions.ts';

/** One loaded version: what the host's model lane offers. */
export interface VersionLane {
  /** Starts reading the version's requests. */
  start(): void;
  /**
   * Called once the version is reported unloading (no front end admits more to it): resolves when its request
   * stream holds nothing undelivered, so the last requests admitted before are read and answered here.
   */
  finishQueued(): Promise<void>;
  /** Stops reading new requests; the ones held are still answered. */
  stopReading(): Promise<void>;
  /** Resolves once every request the lane holds is answered. */
  drain(): Promise<void>;
  /** Frees the engine, threads and buffers. */
  release(): Promise<unknown>;
}

/** Loads and warms up one version; throws with the reason when it cannot. */
export type StartLane<L extends VersionLane> = (version: VersionDir) => Promise<L>;

interface Held<L> {
  version: number;
  state: VersionState;
  reason?: string;
  lane?: L;
  /** Still in its live-host sets, so front ends may admit requests to it (ready, and the first part of unloading). */
  admitting?: boolean;
}

export interface ModelVersionsOptions<L extends VersionLane> {
  name: string;
  dir: string;
  startLane: StartLane<L>;
  /** How long the previous versions keep serving after the new ones are ready. */
  switchGraceMs: number;
  /** Publishes the new states; the returned promise resolves once hosts' live-host sets reflect them. */
  onChange(statuses: VersionStatus[]): Promise<void> | void;
  log: Logger;
}

export class ModelVersions<L extends VersionLane = VersionLane> {
  private readonly held = new Map<number, Held<L>>();
  /** sync() and unloadAll() run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ModelVersionsOptions<L>) {}

  statuses(): VersionStatus[] {
    return [...this.held.values()]
      .sort((a, b) => a.version - b.version)
      .map((h) => ({ version: h.version, state: h.state, ...(h.reason ? { reason: h.reason } : {}) }));
  }

  /** The lanes that take requests: ready versions, and unloading ones until their grace is over. */
  admitting(): Array<{ version: number; lane: L }> {
    return [...this.held.values()].flatMap((h) =>
      h.lane && h.admitting ? [{ version: h.version, lane: h.lane }] : [],
    );
  }

  /** Every loaded lane, ready or unloading (for in-flight counts and the host's close). */
  lanes(): L[] {
    return [...this.held.values()].flatMap((h) => (h.lane ? [h.lane] : []));
  }

  /**
   * Brings the held versions in line with the repository; resolves with the states after it. A version that
   * failed is tried again only when `retryFailed` (an explicit load), not on every poll of the repository.
   */
  sync(retryFailed = false): Promise<VersionStatus[]> {
    return this.serial(() => this.syncNow(retryFailed));
  }

  /** Unloads every version (management unload, or host close). */
  unloadAll(): Promise<VersionStatus[]> {
    return this.serial(async () => {
      await Promise.all([...this.held.values()].map((h) => this.unload(h)));
      return this.statuses();
    });
  }

  /** Resolves once the sync or unload under way (and any queued) is done. */
  async idle(): Promise<void> {
    await this.queue;
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(step, step);
    this.queue = run.catch(() => {});
    return run;
  }

  private changed(): Promise<void> {
    return Promise.resolve(this.opts.onChange(this.statuses())).catch(() => {});
  }

  private async syncNow(retryFailed: boolean): Promise<VersionStatus[]> {
    const { log } = this.opts;
    const scan = await scanModelVersions(this.opts.dir);
    if (scan.missing.length > 0)
      log.warn(
        { model: this.opts.name, missing: scan.missing },
        'version policy names versions the repository does not hold',
      );
    const wanted = new Set(scan.selected.map((v) => v.version));
    const toLoad = scan.selected.filter((v) => {
      const h = this.held.get(v.version);
      return !h || (retryFailed && h.state === 'failed');
    });
    await Promise.all(toLoad.map((v) => this.load(v)));
    const leaving = [...this.held.values()].filter((h) => !wanted.has(h.version));
    const readyWanted = [...this.held.values()].some((h) => wanted.has(h.version) && h.state === 'ready');
    // Never leave the model without a ready version: the old ones stay while nothing wanted is ready.
    if (leaving.length > 0 && readyWanted) {
      if (toLoad.length > 0) await new Promise((r) => setTimeout(r, this.opts.switchGraceMs));
      await Promise.all(leaving.map((h) => this.unload(h)));
    } else if (leaving.some((h) => h.state === 'ready')) {
      log.warn(
        { model: this.opts.name, keeping: leaving.map((h) => h.version) },
        'no selected version is ready: the previous versions keep serving',
      );
    }
    // Failed versions no longer wanted are simply forgotten.
    for (const h of leaving) if (h.state === 'failed') this.held.delete(h.version);
    void this.changed();
    return this.statuses();
  }

  private async load(v: VersionDir): Promise<void> {
    const { name, log } = this.opts;
    const held: Held<L> = { version: v.version, state: 'loading' };
    this.held.set(v.version, held);
    void this.changed();
    const started = Date.now();
    try {
      held.lane = await this.opts.startLane(v);
      held.lane.start();
      held.state = 'ready';
      held.admitting = true;
      log.info({ model: name, version: v.version, ms: Date.now() - started }, 'model version ready');
    } catch (err) {
      held.state = 'failed';
      // The first line: the engine's message, without the stack the inference thread may append.
      held.reason = (err as Error).message.split('\n')[0]!.slice(0, 500);
      log.error(
        { model: name, version: v.version, reason: held.reason },
        'model version failed to load; it takes no traffic',
      );
    }
    void this.changed();
  }

  private async unload(h: Held<L>): Promise<void> {
    if (!h.lane || h.state === 'unloading') {
      this.held.delete(h.version);
      return;
    }
    const { name, log } = this.opts;
    const lane = h.lane;
    // First reported unloading while still admitting: front ends move their unpinned traffic to the newest
    // other ready version. Only after the grace does the host leave the version's live-host sets.
    h.state = 'unloading';
    void this.changed();
    await new Promise((r) => setTimeout(r, this.opts.switchGraceMs));
    h.admitting = false;
    // Out of the live-host sets before the last read: from then on no front end can admit to this version here.
    await this.changed();
    await lane.finishQueued();
    await lane.stopReading();
    await lane.drain();
    await lane.release();
    this.held.delete(h.version);
    log.info({ model: name, version: h.version }, 'model version unloaded');
    void this.changed();
  }
}
