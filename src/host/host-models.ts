/**
 * The models one model host serves: per model its versions (ModelVersions, one lane per loaded version), the
 * models kept unloaded through the management API, what the heartbeat announces, and the repository poll.
 *
 * Each version is announced the moment it is warm (onChange): the default model loads first, the others after
 * it side by side, so a slow model never holds back a fast one and a restarted host serves its default model as
 * soon as that is ready.
 */
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
   * Loads every model not kept unloaded: the default model first, then the others side by side. Throws when a
   * model has no version that could be loaded (at start that is an error; later a failed version only waits).
   */
  async loadAll(keptUnloaded: Iterable<string>): Promise<void> {
    for (const model of keptUnloaded) this.unloaded.add(model);
    const wanted = [...this.sets.keys()].filter((name) => !this.unloaded.has(name));
    const first = wanted.filter((name) => name === this.opts.repository.defaultModel);
    const failures = await this.loadEach(first);
    failures.push(...(await this.loadEach(wanted.filter((name) => !first.includes(name)))));
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  private async loadEach(models: readonly string[]): Promise<string[]> {
    const results = await Promise.all(models.map(async (name) => [name, await this.set(name).sync()] as const));
    return results.flatMap(([name, statuses]) => {
      if (statuses.some((st) => st.state === 'ready')) return [];
      const reasons = statuses.map((st) => `version ${st.version}: ${st.reason ?? st.state}`).join('; ');
      return [`model ${name}: no version could be loaded (${reasons || 'no version directory'})`];
    });
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
