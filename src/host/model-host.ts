/**
 * A model host: serves the models of the repository it is told to (MODELS, or all), each in its own lane
 * (model-lane.ts: own request stream, batch buffers, preprocessing pool and inference thread), announces them in
 * one heartbeat, and publishes the results. Its main thread only does I/O and bookkeeping.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import {
  BLOCKING_READ_MS,
  connectRedis,
  deadConnectionOptions,
  whenReady,
  type RedisClient,
  type RedisTarget,
} from '../redis/connect.ts';
import { keysFor } from '../wire/keys.ts';
import type { ModelMetadata } from '../model/metadata.ts';
import { openRepository } from '../model/repository.ts';
import type { BatchStats } from './batcher.ts';
import { Heartbeat } from './heartbeat.ts';
import type { ServedModel } from '../wire/heartbeat.ts';
import type { InferenceReady } from './inference-client.ts';
import { startModelLane, type ModelLane } from './model-lane.ts';
import { ModelVersions } from './model-versions.ts';
import { ModelControlListener } from './model-control.ts';
import { readMetadata } from '../model/metadata.ts';
import type { VersionDir } from '../model/versions.ts';
import { versionedModelName } from '../wire/versions.ts';
import { managementKeys, parseControl } from '../wire/management.ts';
import type { Keys } from '../wire/keys.ts';
import { HostMetrics } from '../observability/metrics.ts';
import { MetricsPublisher } from '../observability/metrics-publisher.ts';
import { uvThreadpoolSize, uvThreadsNeeded } from '../config/uv-threads.ts';
import { runSteps, type Step } from '../lifecycle/steps.ts';
import { closeRedis } from '../redis/close.ts';

export interface ModelHostEvents {
  onBatch?(stats: BatchStats, model: string): void;
}

export interface ModelHost {
  readonly id: string;
  /** The first served model's metadata and engine (the only ones with a repository of one). */
  readonly meta: ModelMetadata;
  readonly engine: InferenceReady;
  /** Every model this host serves, with its engine. */
  readonly models: ReadonlyArray<{ name: string; meta: ModelMetadata; engine: InferenceReady }>;
  /** Requests currently held by this host. */
  inFlight(): number;
  liveTensors(): Promise<number>;
  /** Stops taking requests, finishes and publishes what it holds, then releases everything. Idempotent. */
  close(): Promise<void>;
}

export async function startModelHost(
  config: Config,
  redisTarget: RedisTarget,
  log: Logger,
  events: ModelHostEvents = {},
): Promise<ModelHost> {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = keysFor(config.KEY_PREFIX, config.REQUEST_SHARDS);
  const repository = await openRepository(config);
  const command = connectRedis(redisTarget, `host:${id}`, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS));
  // The gauge reads the lanes created below, only when metrics are collected.
  const metrics = new HostMetrics(() => allLanes().reduce((n, lane) => n + lane.inFlight(), 0));
  command.on('error', () => metrics.redisErrors.inc());
  const blockingConnections: RedisClient[] = [];
  const versionSets = new Map<string, ModelVersions<ModelLane>>();
  const allLanes = () => [...versionSets.values()].flatMap((v) => v.lanes());
  let heartbeat: Heartbeat | undefined;
  let closing: Promise<void> | undefined;
  const served = (): ServedModel[] =>
    [...versionSets.entries()].flatMap(([name, set]) =>
      set.admitting().map(({ version, lane }) => ({
        name,
        version,
        title: lane.model.meta.name,
        ...lane.engine.info,
        maxBatch: config.MAX_BATCH,
        labels: lane.model.meta.labels,
        input: lane.model.meta.input,
        preprocessing: lane.model.meta.preprocessing,
        output: lane.model.meta.output,
      })),
    );
  const versionReport = () => Object.fromEntries([...versionSets].map(([name, set]) => [name, set.statuses()]));
  // Every change of a version's state is announced at once: front ends move traffic on what hosts report.
  const announce = async () => {
    await heartbeat
      ?.update(served(), versionReport())
      .catch((err: Error) => log.warn({ err: err.message }, 'heartbeat update failed'));
  };

  /** Loads one version of a model into its own lane, under its own stream name (versionedModelName). */
  const startLane = async (modelName: string, v: VersionDir): Promise<ModelLane> => {
    const meta = await readMetadata(v.dir);
    const opened: RedisClient[] = [];
    const lane = await startModelLane(
      { name: versionedModelName(modelName, v.version), dir: v.dir, meta },
      {
        config,
        keys,
        command,
        hostId: id,
        metrics,
        log: log.child({ model: modelName, version: v.version }),
        connectBlocking: (name) => {
          const conn = connectRedis(
            redisTarget,
            name,
            log,
            deadConnectionOptions(config.REDIS_TIMEOUT_MS, BLOCKING_READ_MS),
          );
          blockingConnections.push(conn);
          opened.push(conn);
          return conn;
        },
        onBatch: (name, stats) => events.onBatch?.(stats, name),
      },
    );
    await Promise.all(opened.map((c) => whenReady(c)));
    lane.inference.onFatal = (err) => {
      log.fatal(
        { err: err.message, model: modelName, version: v.version },
        'inference thread died; exiting so the supervisor restarts this host',
      );
      void close().finally(() => process.exit(1));
    };
    return lane;
  };

  const unloaded = new Set<string>();
  try {
    await whenReady(command);
    // Models unloaded through the management API stay unloaded when a host (re)starts.
    for (const model of await keptUnloads(command, keys)) unloaded.add(model);
    // One model after another: loading models in parallel would only fight for the cores.
    for (const model of repository.models) {
      const set = new ModelVersions<ModelLane>({
        name: model.name,
        dir: model.dir,
        switchGraceMs: config.VERSION_SWITCH_GRACE_MS,
        log,
        onChange: announce,
        startLane: (v) => startLane(model.name, v),
      });
      versionSets.set(model.name, set);
      if (unloaded.has(model.name)) continue;
      const statuses = await set.sync();
      // At start a model with no ready version is an error, as it always was; later a failed version only waits.
      if (!statuses.some((st) => st.state === 'ready')) {
        const reasons = statuses.map((st) => `version ${st.version}: ${st.reason ?? st.state}`).join('; ');
        throw new Error(`model ${model.name}: no version could be loaded (${reasons || 'no version directory'})`);
      }
    }
  } catch (err) {
    await Promise.allSettled([
      ...allLanes().map((l) => l.release()),
      closeRedis(command),
      ...blockingConnections.map(closeRedis),
    ]);
    throw err;
  }

  heartbeat = new Heartbeat(command, keys, id, served(), config.HEARTBEAT_MS, log);
  await heartbeat.update(served(), versionReport());
  const metricsPublisher = new MetricsPublisher(
    command,
    keys,
    `host-${id}`,
    metrics.registry,
    config.METRICS_PUSH_MS,
    log,
    () => metrics.redisErrors.inc(),
  );
  // Subscribed, so silent for long stretches: no dead-connection timeout here (it resubscribes on reconnect).
  const controlConnection = connectRedis(redisTarget, `host:${id}:control`, log);
  const control = new ModelControlListener(
    controlConnection,
    command,
    keys,
    id,
    {
      serves: (model) => versionSets.has(model),
      load: (model) => {
        unloaded.delete(model);
        return versionSets.get(model)!.sync(true);
      },
      unload: (model) => {
        unloaded.add(model);
        return versionSets.get(model)!.unloadAll();
      },
      versions: (model) => versionSets.get(model)?.statuses() ?? [],
    },
    log,
  );
  // New versions appear by polling the repository too (REPOSITORY_POLL_S), besides an explicit load.
  // A model whose last poll is still switching versions is not polled again until it is done.
  const polling = new Set<string>();
  const poll =
    config.REPOSITORY_POLL_S > 0
      ? setInterval(() => {
          for (const [name, set] of versionSets) {
            if (unloaded.has(name) || closing || polling.has(name)) continue;
            polling.add(name);
            set
              .sync()
              .catch((err: Error) =>
                log.error(
                  { model: name, err: err.message },
                  'repository poll failed; the loaded versions keep serving',
                ),
              )
              .finally(() => polling.delete(name));
          }
        }, config.REPOSITORY_POLL_S * 1000)
      : undefined;
  poll?.unref();

  // Ordered: withdraw from the registry and stop reading first, then finish what is held, then release.
  const cleanups: Step[] = [
    [
      'repository poll and model control',
      async () => {
        clearInterval(poll);
        await control.close();
      },
    ],
    ['heartbeat', () => heartbeat!.stop()],
    ['metrics', () => metricsPublisher.stop()],
    ['consumers', () => Promise.all(allLanes().map((l) => l.stopReading()))],
    ['batches', () => Promise.all(allLanes().map((l) => l.drain()))],
    ['inference threads and preprocess pools', () => Promise.all(allLanes().map((l) => l.release()))],
    ['redis', () => closeRedis(command)],
  ];
  const close = () => {
    closing ??= runSteps(cleanups, (step, err) => log.warn({ err: err.message, step }, 'model host close step failed'));
    return closing;
  };

  try {
    await heartbeat.start();
    await whenReady(controlConnection);
    await control.start();
  } catch (err) {
    // The first beat failed (Redis lost since the checks above): release everything before reporting it.
    await close();
    throw err;
  }
  metricsPublisher.start();
  const lanes = allLanes();
  const uvNeeded = uvThreadsNeeded(lanes.length, config);
  if (uvThreadpoolSize() < uvNeeded) {
    log.warn(
      { uvThreadpoolSize: uvThreadpoolSize(), needed: uvNeeded },
      'UV_THREADPOOL_SIZE is below the decode threads: start the host with a larger one, or slow images can stall every decode',
    );
  }
  log.info(
    {
      hostId: id,
      models: served().map((m) => `${m.name}@${m.version}`),
      maxBatch: config.MAX_BATCH,
      preprocessThreads: config.PREPROCESS_THREADS,
      batchBuffers: config.BATCH_BUFFERS,
    },
    'model host ready',
  );

  const first = lanes[0]!;
  return {
    id,
    meta: first.model.meta,
    engine: first.engine,
    models: lanes.map((l) => ({ name: l.model.name, meta: l.model.meta, engine: l.engine })),
    inFlight: () => allLanes().reduce((n, l) => n + l.inFlight(), 0),
    liveTensors: async () =>
      (await Promise.all(allLanes().map((l) => l.inference.liveTensors()))).reduce((a, b) => a + b, 0),
    close,
  };
}

/** The models whose last management command was an unload. */
async function keptUnloads(redis: RedisClient, keys: Keys): Promise<string[]> {
  const kept = await redis.hgetall(managementKeys(keys).control);
  return Object.entries(kept).flatMap(([model, text]) => (parseControl(text)?.action === 'unload' ? [model] : []));
}
