/**
 * The models one model host serves: per model its versions (ModelVersions, one lane per loaded version), the
 * models kept unloaded through the management API, what the heartbeat announces, and the repository poll.
 *
 * Each version is announced the moment it is warm (onChange): the default model loads first, the others after
 * it, smallest first, so a slow model never holds back a fast one and a restarted host serves its default model
 * as soon as that is ready.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import type { ModelRepository } from '../model/repository.ts';
import type { VersionDir } from '../model/versions.ts';
import type { ServedModel } from '../wire/heartbeat.ts';
import type { VersionStatus } from '../wire/versions.ts';
import type { ControlTarget } from './model-control.ts';
import type { ModelLane } from './model-lane.ts';
import { ModelVersions } from './model-versions.ts';
import { runSteps } from '../lifecycle/steps.ts';

export interface HostModelsOptions {
  config: Config;
  repository: ModelRepository;
  log: Logger;
  /** Loads and warms up one version of a model in its own lane. */
  startLane(model: string, version: VersionDir): Promise<ModelLane>;
  /** A version changed state: the heartbeat announces it at once. */
  onChange(): Promise<void>;
}

export class HostModels implements ControlTarget {
  private readonly sets = new Map<string, ModelVersions<ModelLane>>();
  /** Models whose last management command was an unload: not loaded at start, not polled. */
  private readonly unloaded = new Set<string>();
  private readonly polling = new Set<string>();
  private poll: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly opts: HostModelsOptions) {
    for (const model of opts.repository.models) {
      this.sets.set(
        model.name,
        new ModelVersions<ModelLane>({
          name: model.name,
          dir: model.dir,
          switchGraceMs: opts.config.VERSION_SWITCH_GRACE_MS,
          log: opts.log,
          onChange: () => opts.onChange(),
          startLane: (v) => opts.startLane(model.name, v),
        }),
      );
    }
  }

  /** What the heartbeat announces: every version taking requests, with what clients need to know of it. */
  served(): ServedModel[] {
    return [...this.sets].flatMap(([name, set]) =>
      set.admitting().map(({ version, lane }) => ({
        name,
        version,
        title: lane.model.meta.name,
        ...lane.engine.info,
        maxBatch: this.opts.config.MAX_BATCH,
        labels: lane.model.meta.labels,
        input: lane.model.meta.input,
        preprocessing: lane.model.meta.preprocessing,
        output: lane.model.meta.output,
      })),
    );
  }

  /** Every version held, ready or not, per model. */
  versionReport(): Record<string, VersionStatus[]> {
    return Object.fromEntries([...this.sets].map(([name, set]) => [name, set.statuses()]));
  }

  /** Every loaded lane (ready or unloading). */
  lanes(): ModelLane[] {
    return [...this.sets.values()].flatMap((set) => set.lanes());
  }

  inFlight(): number {
    return this.lanes().reduce((n, lane) => n + lane.inFlight(), 0);
  }

  serves(model: string): boolean {
    return this.sets.has(model);
  }

  load(model: string): Promise<VersionStatus[]> {
    this.unloaded.delete(model);
    return this.set(model).sync(true);
  }

  unload(model: string): Promise<VersionStatus[]> {
    this.unloaded.add(model);
    return this.set(model).unloadAll();
  }

  versions(model: string): VersionStatus[] {
    return this.sets.get(model)?.statuses() ?? [];
  }

  /**
   * Loads every model not kept unloaded: the default model first, then the others one at a time, smallest on
   * disk first, so that a slow model never delays a fast one. Before each next model the ones serving take their
   * backlog (a restarted host has the requests of its gap to answer within their deadline), bounded by
   * REQUEST_TIMEOUT_MS: loading a model costs seconds of CPU the backlog needs more. Throws when a model has no
   * version that could be loaded (at start that is an error; later a failed version only waits).
   */
  async loadAll(keptUnloaded: Iterable<string>): Promise<void> {
    for (const model of keptUnloaded) this.unloaded.add(model);
    const { repository } = this.opts;
    const wanted = repository.models.filter((m) => !this.unloaded.has(m.name));
    const bytes = new Map(wanted.map((m) => [m.name, diskBytes(m.dir)]));
    const order = [...wanted].sort(
      (a, b) =>
        Number(b.name === repository.defaultModel) - Number(a.name === repository.defaultModel) ||
        bytes.get(a.name)! - bytes.get(b.name)!,
    );
    const failures: string[] = [];
    for (const [i, { name }] of order.entries()) {
      if (i > 0) await Promise.all(this.lanes().map((l) => l.backlogTaken(this.opts.config.REQUEST_TIMEOUT_MS)));
      const statuses = await this.set(name).sync();
      if (statuses.some((st) => st.state === 'ready')) continue;
      const reasons = statuses.map((st) => `version ${st.version}: ${st.reason ?? st.state}`).join('; ');
      failures.push(`model ${name}: no version could be loaded (${reasons || 'no version directory'})`);
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  /** New versions also appear by polling the repository; a model still switching is not polled again until done. */
  startPolling(seconds: number): void {
    if (seconds <= 0) return;
    this.poll = setInterval(() => {
      for (const [name, set] of this.sets) {
        if (this.unloaded.has(name) || this.closing || this.polling.has(name)) continue;
        this.polling.add(name);
        set
          .sync()
          .catch((err: Error) =>
            this.opts.log.error(
              { model: name, err: err.message },
              'repository poll failed; the loaded versions keep serving',
            ),
          )
          .finally(() => this.polling.delete(name));
      }
    }, seconds * 1000);
    this.poll.unref();
  }

  stopPolling(): void {
    this.closing = true;
    clearInterval(this.poll);
  }

  /**
   * Once the loads and unloads under way are done (a lane started after this would never be closed): stops every
   * lane reading, answers what they hold, then frees their threads and memory; each step runs whatever failed.
   */
  async close(onFailure: (step: string, err: Error) => void): Promise<void> {
    this.stopPolling();
    await Promise.all([...this.sets.values()].map((set) => set.idle()));
    const all =
      <T>(step: (lane: ModelLane) => Promise<T>) =>
      () =>
        Promise.all(this.lanes().map(step));
    await runSteps(
      [
        ['consumers', all((l) => l.stopReading())],
        ['batches', all((l) => l.drain())],
        ['inference threads and preprocess pools', all((l) => l.release())],
      ],
      onFailure,
    );
  }

  private set(model: string): ModelVersions<ModelLane> {
    const set = this.sets.get(model);
    if (!set) throw new Error(`this host does not serve a model named ${model}`);
    return set;
  }
}

/** The bytes under a model directory (links followed): what loading it reads, a measure of how long it takes. */
function diskBytes(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return st.size;
    return readdirSync(path).reduce((n, name) => n + diskBytes(join(path, name)), 0);
  } catch {
    return 0; // gone or unreadable: loading it will say why
  }
}
