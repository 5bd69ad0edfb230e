/**
 * A model host: reads requests from Redis, preprocesses them in a piscina pool into shared batch buffers, runs
 * batches on one inference thread, and publishes the results. Its main thread only does I/O and bookkeeping.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { BLOCKING_READ_MS, connectRedis, deadConnectionOptions, whenReady, type RedisTarget } from '../redis/connect.ts';
import { keysFor } from '../wire/keys.ts';
import { imageElements, readMetadata, type ModelMetadata } from '../model/metadata.ts';
import { BatchBuffers } from './batch-buffers.ts';
import { Batcher, type BatchStats } from './batcher.ts';
import { RequestConsumer, ensureGroup } from './consumer.ts';
import { Heartbeat } from './heartbeat.ts';
import { InferenceClient, type InferenceReady } from './inference-client.ts';
import { PreprocessPool } from './preprocess-pool.ts';
import { HostMetrics } from '../observability/metrics.ts';
import { MetricsPublisher } from '../observability/metrics-publisher.ts';
import { ResultPublisher } from './publisher.ts';
import { preprocessSettings } from '../preprocess/preprocess-image.ts';

export interface ModelHostEvents {
  onBatch?(stats: BatchStats): void;
}

export interface ModelHost {
  readonly id: string;
  readonly meta: ModelMetadata;
  readonly engine: InferenceReady;
  /** Requests currently held by this host. */
  inFlight(): number;
  liveTensors(): Promise<number>;
  /** Stops taking requests, finishes and publishes what it holds, then releases everything. Idempotent. */
  close(): Promise<void>;
}

export async function startModelHost(config: Config, redisTarget: RedisTarget, log: Logger, events: ModelHostEvents = {}): Promise<ModelHost> {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = keysFor(config.KEY_PREFIX, config.REQUEST_SHARDS);
  const modelDir = resolve(config.MODEL_DIR);
  const meta = await readMetadata(modelDir);

  const buffers = new BatchBuffers({ maxBatch: config.MAX_BATCH, slotElements: imageElements(meta), count: config.BATCH_BUFFERS });
  const inference = new InferenceClient({
    modelDir, engine: config.ENGINE, intraOpThreads: config.INTRA_OP_THREADS, tfjsBackend: config.TFJS_BACKEND,
    buffers: buffers.buffers, maxBatch: config.MAX_BATCH,
  });
  const pool = new PreprocessPool(
    { threads: config.PREPROCESS_THREADS, slotsPerBuffer: config.MAX_BATCH, decodeTimeoutMs: config.DECODE_TIMEOUT_MS },
    { buffers: buffers.buffers, input: meta.input, preprocessing: meta.preprocessing, settings: preprocessSettings(config) },
  );
  const command = connectRedis(redisTarget, `host:${id}`, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS));
  // One blocking connection per request shard: each shard's read loop blocks on its own.
  const blocking = keys.shards.map((shard) => connectRedis(redisTarget, `host:${id}:read${shard.index || ''}`, log,
    deadConnectionOptions(config.REDIS_TIMEOUT_MS, BLOCKING_READ_MS)));

  const cleanups: Array<[string, () => Promise<unknown>]> = [];
  let engine: InferenceReady;
  try {
    engine = await inference.ready;
    log.info({ model: meta.name, ...engine.info, fallbackReason: engine.fallbackReason, loadMs: Math.round(engine.loadMs), warmupMs: Math.round(engine.warmupMs) }, 'model loaded');
    if (engine.fallbackReason) log.warn({ reason: engine.fallbackReason }, `engine fell back to ${engine.info.engine}`);
    await Promise.all([whenReady(command), ...blocking.map((conn) => whenReady(conn))]);
    await ensureGroup(command, keys);
  } catch (err) {
    await Promise.allSettled([inference.close(), pool.close(), command.quit(), ...blocking.map((conn) => conn.quit())]);
    throw err;
  }

  const publisher = new ResultPublisher(command, keys, config.REPLY_TTL_S);
  // The gauge reads the batcher created just below, only when metrics are collected.
  const metrics = new HostMetrics(() => batcher.inFlight, { model: meta.name, ...engine.info });
  for (const conn of [command, ...blocking]) conn.on('error', () => metrics.redisErrors.inc());
  const batcher = new Batcher({
    buffers,
    labels: meta.labels,
    maxBatchDelayMs: config.MAX_BATCH_DELAY_MS,
    stragglerWaitMs: config.STRAGGLER_WAIT_MS,
    preprocess: (req) => pool.run(req),
    infer: (buffer, n) => inference.run(buffer, n),
    complete: (done) => publisher.publish(done),
    onBatch: (stats) => {
      log.debug(stats, 'batch');
      metrics.onBatch(stats);
      events.onBatch?.(stats);
    },
    onPreprocess: (ms, ok) => metrics.onPreprocess(ms, ok),
    onError: (err, context) => log.error({ err: err.message }, context),
  });
  const consumer = new RequestConsumer(blocking, keys, batcher, publisher,
    { consumerName: id, claimIdleMs: config.CLAIM_IDLE_MS, blockMs: BLOCKING_READ_MS }, log);
  const heartbeat = new Heartbeat(command, keys, id, {
    model: meta.name, ...engine.info, maxBatch: config.MAX_BATCH, startedAt: Date.now(),
    labels: meta.labels, input: meta.input, preprocessing: meta.preprocessing, output: meta.output,
  }, config.HEARTBEAT_MS, log);
  const metricsPublisher = new MetricsPublisher(command, keys, `host-${id}`, metrics.registry, config.METRICS_PUSH_MS, log, () => metrics.redisErrors.inc());
  const onClaimed = consumer.onClaimed;
  consumer.onClaimed = (count) => {
    metrics.claimed.inc(count);
    onClaimed(count);
  };

  // Ordered: withdraw from the registry and stop reading first, then finish what is held, then release.
  cleanups.push(
    ['heartbeat', () => heartbeat.stop()],
    ['metrics', () => metricsPublisher.stop()],
    ['consumer', () => consumer.stop()],
    ['batches', () => batcher.drain()],
    ['inference thread', () => inference.close()],
    ['preprocess pool', () => pool.close()],
    ['redis', () => command.quit()],
  );
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const [name, fn] of cleanups) {
        try {
          await fn();
        } catch (err) {
          log.warn({ err: (err as Error).message, step: name }, 'model host close step failed');
        }
      }
    })();
    return closing;
  };

  inference.onFatal = (err) => {
    log.fatal({ err: err.message }, 'inference thread died; exiting so the supervisor restarts this host');
    void close().finally(() => process.exit(1));
  };

  await heartbeat.start();
  metricsPublisher.start();
  consumer.start();
  log.info({ hostId: id, maxBatch: config.MAX_BATCH, preprocessThreads: pool.threads, batchBuffers: config.BATCH_BUFFERS }, 'model host ready');

  return {
    id,
    meta,
    engine,
    inFlight: () => batcher.inFlight,
    liveTensors: () => inference.liveTensors(),
    close,
  };
}
