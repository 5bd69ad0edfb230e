/**
 * A model host: serves the models of the repository it is told to (MODELS, or all), each version in its own lane
 * (model-lane.ts: own request stream, batch buffers, preprocessing pool and inference thread), announces each in
 * its heartbeat the moment it is warm (host-models.ts), and follows the management API's load and unload.
 *
 * Start-up opens its resources one by one, registering each close as it goes (ResourceStack); close() and a
 * failed start-up run them last-first: stop following commands, withdraw from the registry, stop reading, answer
 * what is held, release the lanes, and quit Redis last.
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
import { closeRedis } from '../redis/close.ts';
import { keysFor, type Keys } from '../wire/keys.ts';
import { versionedModelName } from '../wire/versions.ts';
import type { ModelMetadata } from '../model/metadata.ts';
import { readMetadata } from '../model/metadata.ts';
import { openRepository } from '../model/repository.ts';
import type { VersionDir } from '../model/versions.ts';
import { HostMetrics } from '../observability/metrics.ts';
import { MetricsPublisher } from '../observability/metrics-publisher.ts';
import { ResourceStack } from '../lifecycle/resource-stack.ts';
import type { BatchStats } from './batcher.ts';
import { Heartbeat } from './heartbeat.ts';
import { HostModels } from './host-models.ts';
import type { InferenceReady } from './inference-client.ts';
import { ModelControlListener } from './model-control.ts';
import { startModelLane, type ModelLane } from './model-lane.ts';
import { startTracing } from '../observability/tracing.ts';
import type { Tracer } from '../observability/tracer.ts';
import { uvThreadpoolSize, uvThreadsNeeded } from '../config/uv-threads.ts';

export interface ModelHostEvents {
  onBatch?(stats: BatchStats, model: string): void;
  /**
   * An inference thread died: the host has closed itself; the entry point exits non-zero so that its supervisor
   * restarts it. Unset: the host only closes.
   */
  onFatal?(err: Error): void;
}

export interface ModelHost {
  readonly id: string;
  /** The model versions this host serves now (ready ones), with their engines. */
  models(): Array<{ name: string; version: number; meta: ModelMetadata; engine: InferenceReady }>;
  /** Requests currently held by this host. */
  inFlight(): number;
  liveTensors(): Promise<number>;
  /** Stops taking requests, finishes and publishes what it holds, then releases everything. Idempotent. */
  close(): Promise<void>;
}

interface HostContext {
  id: string;
  config: Config;
  keys: Keys;
  redisTarget: RedisTarget;
  log: Logger;
  events: ModelHostEvents;
  resources: ResourceStack;
}

export async function startModelHost(
  config: Config,
  redisTarget: RedisTarget,
  log: Logger,
  events: ModelHostEvents = {},
): Promise<ModelHost> {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const resources = new ResourceStack((step, err) =>
    log.warn({ err: err.message, step }, 'model host close step failed'),
  );
  const ctx: HostContext = {
    id,
    config,
    keys: keysFor(config.KEY_PREFIX, config.REQUEST_SHARDS),
    redisTarget,
    log,
    events,
    resources,
  };
  try {
    return await openHost(ctx);
  } catch (err) {
    await resources.close();
    throw err;
  }
}

async function openHost(ctx: HostContext): Promise<ModelHost> {
  const { id, config, keys, redisTarget, log, resources } = ctx;
  const repository = await openRepository(config);
  // Loads the OpenTelemetry SDK only when an exporter is configured; closed last, after the lanes drained.
  const tracer = await startTracing(config, 'model-host', id);
  if (tracer) resources.use('tracing', tracer, (t) => t.shutdown());
  const command = resources.use(
    'redis',
    connectRedis(redisTarget, `host:${id}`, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS)),
    closeRedis,
  );
  // The gauge reads the lanes, only when metrics are collected.
  const metrics = new HostMetrics(() => models.inFlight());
  command.on('error', () => metrics.redisErrors.inc());
  await whenReady(command);

  const close = () => resources.close();
  const models: HostModels = resources.use(
    'models',
    new HostModels({
      config,
      repository,
      log,
      startLane: (model, version) => startLane(ctx, { command, metrics, close, tracer }, model, version),
      // Every change of a version's state is announced at once: front ends move traffic on what hosts report.
      onChange: () =>
        heartbeat
          .update(models.served(), models.versionReport())
          .catch((err: Error) => log.warn({ err: err.message }, 'heartbeat update failed')),
    }),
    (m) => m.close((step, err) => log.warn({ err: err.message, step }, 'model host close step failed')),
  );
  // Registered before any model loads, serving nothing yet: each model joins it as soon as it is warm.
  const heartbeat = new Heartbeat(
    command,
    keys,
    id,
    { intervalMs: config.HEARTBEAT_MS, graceMs: config.HOST_RESTART_GRACE_MS },
    log,
  );
  await heartbeat.start();
  resources.defer('heartbeat', () => heartbeat.stop());
  const publisher = new MetricsPublisher(
    command,
    keys,
    `host-${id}`,
    metrics.registry,
    config.METRICS_PUSH_MS,
    log,
    () => metrics.redisErrors.inc(),
  );
  publisher.start();
  resources.defer('metrics', () => publisher.stop());
  // Subscribed, so silent for long stretches: no dead-connection timeout here (it resubscribes on reconnect).
  const subscriber = resources.use('redis (control)', connectRedis(redisTarget, `host:${id}:control`, log), closeRedis);
  await whenReady(subscriber);
  const control = new ModelControlListener(subscriber, command, keys, id, models, log);
  const keptUnloaded = await control.start();
  resources.defer('model control', () => control.close());

  await models.loadAll(keptUnloaded);
  models.startPolling(config.REPOSITORY_POLL_S);
  const uvNeeded = uvThreadsNeeded(models.lanes().length, config);
  if (uvThreadpoolSize() < uvNeeded) {
    log.warn(
      { uvThreadpoolSize: uvThreadpoolSize(), needed: uvNeeded },
      'UV_THREADPOOL_SIZE is below the decode threads: start the host with a larger one, or slow images can stall every decode',
    );
  }
  log.info(
    {
      hostId: id,
      models: models.served().map((m) => `${m.name}@${m.version}`),
      keptUnloaded: [...keptUnloaded],
      maxBatch: config.MAX_BATCH,
      preprocessThreads: config.PREPROCESS_THREADS,
      batchBuffers: config.BATCH_BUFFERS,
    },
    'model host ready',
  );

  const readyLanes = () =>
    models.served().flatMap((m) => {
      const lane = models.lanes().find((l) => l.model.name === versionedModelName(m.name, m.version ?? 1));
      return lane ? [{ name: m.name, version: m.version ?? 1, meta: lane.model.meta, engine: lane.engine }] : [];
    });
  return {
    id,
    models: readyLanes,
    inFlight: () => models.inFlight(),
    liveTensors: async () =>
      (await Promise.all(models.lanes().map((l) => l.inference.liveTensors()))).reduce((a, b) => a + b, 0),
    close,
  };
}

/** Loads one version of a model into its own lane, under its own stream name (versionedModelName). */
async function startLane(
  ctx: HostContext,
  host: { command: RedisClient; metrics: HostMetrics; close(): Promise<void>; tracer: Tracer | undefined },
  modelName: string,
  v: VersionDir,
): Promise<ModelLane> {
  const { id, config, keys, redisTarget, log, events } = ctx;
  const meta = await readMetadata(v.dir);
  const lane = await startModelLane(
    { name: versionedModelName(modelName, v.version), dir: v.dir, meta },
    {
      config,
      keys,
      command: host.command,
      hostId: id,
      metrics: host.metrics,
      tracer: host.tracer,
      log: log.child({ model: modelName, version: v.version }),
      connectBlocking: (name) =>
        connectRedis(redisTarget, name, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS, BLOCKING_READ_MS)),
      onBatch: (name, stats) => events.onBatch?.(stats, name),
    },
  );
  lane.inference.onFatal = (err) => {
    log.fatal({ err: err.message, model: modelName, version: v.version }, 'inference thread died; closing this host');
    void host.close().finally(() => events.onFatal?.(err));
  };
  return lane;
}
