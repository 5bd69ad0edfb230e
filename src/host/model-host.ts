/**
 * A model host: serves the models of the repository it is told to (MODELS, or all), each in its own lane
 * (model-lane.ts: own request stream, batch buffers, preprocessing pool and inference thread), announces them in
 * one heartbeat, and publishes the results. Its main thread only does I/O and bookkeeping.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { BLOCKING_READ_MS, connectRedis, deadConnectionOptions, whenReady, type RedisClient, type RedisTarget } from '../redis/connect.ts';
import { keysFor } from '../wire/keys.ts';
import type { ModelMetadata } from '../model/metadata.ts';
import { openRepository } from '../model/repository.ts';
import type { BatchStats } from './batcher.ts';
import { Heartbeat } from './heartbeat.ts';
import type { ServedModel } from '../wire/heartbeat.ts';
import type { InferenceReady } from './inference-client.ts';
import { uvThreadpoolSize, uvThreadsNeeded } from './uv-threads.ts';
import { startModelLane, type ModelLane } from './model-lane.ts';
import { HostMetrics } from '../observability/metrics.ts';
import { MetricsPublisher } from '../observability/metrics-publisher.ts';
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

export async function startModelHost(config: Config, redisTarget: RedisTarget, log: Logger, events: ModelHostEvents = {}): Promise<ModelHost> {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = keysFor(config.KEY_PREFIX, config.REQUEST_SHARDS);
  const repository = await openRepository(config);
  const command = connectRedis(redisTarget, `host:${id}`, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS));
  // The gauge reads the lanes created below, only when metrics are collected.
  const metrics = new HostMetrics(() => lanes.reduce((n, lane) => n + lane.inFlight(), 0));
  command.on('error', () => metrics.redisErrors.inc());
  const blockingConnections: RedisClient[] = [];
  const lanes: ModelLane[] = [];
  try {
    await whenReady(command);
    // One lane per model, started one after another: loading models in parallel would only fight for the cores.
    for (const model of repository.models) {
      lanes.push(await startModelLane(model, {
        config, keys, command, hostId: id, metrics, log: log.child({ model: model.name }),
        connectBlocking: (name) => {
          const conn = connectRedis(redisTarget, name, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS, BLOCKING_READ_MS));
          blockingConnections.push(conn);
          return conn;
        },
        onBatch: (name, stats) => events.onBatch?.(stats, name),
      }));
    }
    await Promise.all(blockingConnections.map((c) => whenReady(c)));
  } catch (err) {
    await Promise.allSettled([...lanes.map((l) => l.release()), closeRedis(command), ...blockingConnections.map(closeRedis)]);
    throw err;
  }

  const served: ServedModel[] = lanes.map((lane) => ({
    name: lane.model.name, title: lane.model.meta.name, ...lane.engine.info, maxBatch: config.MAX_BATCH,
    labels: lane.model.meta.labels, input: lane.model.meta.input, preprocessing: lane.model.meta.preprocessing, output: lane.model.meta.output,
  }));
  const heartbeat = new Heartbeat(command, keys, id, served, config.HEARTBEAT_MS, log);
  const metricsPublisher = new MetricsPublisher(command, keys, `host-${id}`, metrics.registry, config.METRICS_PUSH_MS, log, () => metrics.redisErrors.inc());

  // Ordered: withdraw from the registry and stop reading first, then finish what is held, then release.
  const cleanups: Step[] = [
    ['heartbeat', () => heartbeat.stop()],
    ['metrics', () => metricsPublisher.stop()],
    ['consumers', () => Promise.all(lanes.map((l) => l.stopReading()))],
    ['batches', () => Promise.all(lanes.map((l) => l.drain()))],
    ['inference threads and preprocess pools', () => Promise.all(lanes.map((l) => l.release()))],
    ['redis', () => closeRedis(command)],
  ];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= runSteps(cleanups, (step, err) => log.warn({ err: err.message, step }, 'model host close step failed'));
    return closing;
  };

  for (const lane of lanes) {
    lane.inference.onFatal = (err) => {
      log.fatal({ err: err.message, model: lane.model.name }, 'inference thread died; exiting so the supervisor restarts this host');
      void close().finally(() => process.exit(1));
    };
  }

  try {
    await heartbeat.start();
  } catch (err) {
    // The first beat failed (Redis lost since the checks above): release everything before reporting it.
    await close();
    throw err;
  }
  metricsPublisher.start();
  for (const lane of lanes) lane.start();
  const uvNeeded = uvThreadsNeeded(lanes.length, config);
  if (uvThreadpoolSize() < uvNeeded) {
    log.warn({ uvThreadpoolSize: uvThreadpoolSize(), needed: uvNeeded }, 'UV_THREADPOOL_SIZE is below the decode threads: start the host with a larger one, or slow images can stall every decode');
  }
  log.info({ hostId: id, models: served.map((m) => m.name), maxBatch: config.MAX_BATCH, preprocessThreads: config.PREPROCESS_THREADS, batchBuffers: config.BATCH_BUFFERS }, 'model host ready');

  const first = lanes[0]!;
  return {
    id,
    meta: first.model.meta,
    engine: first.engine,
    models: lanes.map((l) => ({ name: l.model.name, meta: l.model.meta, engine: l.engine })),
    inFlight: () => lanes.reduce((n, l) => n + l.inFlight(), 0),
    liveTensors: async () => (await Promise.all(lanes.map((l) => l.inference.liveTensors()))).reduce((a, b) => a + b, 0),
    close,
  };
}
