/**
 * Everything one model needs inside a model host: its batch buffers (sized to its input), its preprocessing
 * pool, its inference thread, its batcher, and the consumer and publisher of its own request stream. A batch
 * therefore never mixes models, and a slow model never holds another's batches back.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import type { HostMetrics } from '../observability/metrics.ts';
import type { RepositoryModel } from '../model/repository.ts';
import { imageElements } from '../model/metadata.ts';
import { modelKeys, type Keys } from '../wire/keys.ts';
import { BLOCKING_READ_MS, whenReady, type RedisClient } from '../redis/connect.ts';
import { ResourceStack } from '../lifecycle/resource-stack.ts';
import type { PreprocessOutcome } from '../wire/worker-messages.ts';
import { BatchBuffers } from './batch-buffers.ts';
import { Batcher, type BatcherDeps, type BatchStats, type SlotFill } from './batcher.ts';
import { traceStages } from './lane-tracing.ts';
import type { Tracer } from '../observability/tracer.ts';
import { RequestConsumer, ensureGroup } from './consumer.ts';
import { InferenceClient, type InferenceReady } from './inference-client.ts';
import { PreprocessPool } from './preprocess-pool.ts';
import { preprocessSettings } from '../preprocess/settings.ts';
import { ResultPublisher } from './publisher.ts';
import { untilDelivered } from './stream-backlog.ts';

/** What a lane needs of a model: one version's name, files and metadata (not the front end's serving settings). */
type ServedModel = Omit<RepositoryModel, 'config'>;

export interface ModelLane {
  readonly model: ServedModel;
  readonly engine: InferenceReady;
  readonly inference: InferenceClient;
  inFlight(): number;
  start(): void;
  /** Resolves once the lane's request streams hold nothing undelivered (see stream-backlog.ts). */
  finishQueued(): Promise<void>;
  /** Resolves (true) once its streams hold nothing undelivered, or (false) after timeoutMs: its backlog is taken. */
  backlogTaken(timeoutMs: number): Promise<boolean>;
  /** Ordered close steps (stop reading, drain, release), run by the host's close. */
  readonly stopReading: () => Promise<void>;
  readonly drain: () => Promise<void>;
  /** Closes the reading connections, the preprocessing pool and the inference thread. Idempotent. */
  readonly release: () => Promise<void>;
}

export interface LaneDeps {
  config: Config;
  keys: Keys;
  /** The host's command connection (publishing); the lane opens its own blocking ones for reading. */
  command: RedisClient;
  /** Opens a blocking connection; the lane closes it. */
  connectBlocking(name: string): RedisClient;
  hostId: string;
  metrics: HostMetrics;
  log: Logger;
  /** Present when tracing is on: the lane's stages record spans (lane-tracing.ts). */
  tracer?: Tracer | undefined;
  onBatch?(model: string, stats: BatchStats): void;
}

/**
 * An Open Inference Protocol tensor goes straight into its slot: a copy of the client's float32 values, no
 * decode. The front end checked its size; this checks again, because a slot overrun would corrupt a neighbour.
 */
function copyTensor(tensor: Uint8Array, view: Float32Array, slot: number, elements: number): PreprocessOutcome {
  const started = performance.now();
  if (tensor.byteLength !== elements * 4) {
    return {
      ok: false,
      code: 'BAD_REQUEST',
      message: "The tensor does not have the model input's size.",
      detail: `${tensor.byteLength} bytes for ${elements} float32`,
    };
  }
  const bytes = new Uint8Array(view.buffer, slot * elements * 4, elements * 4);
  bytes.set(tensor);
  return { ok: true, ms: performance.now() - started };
}

export async function startModelLane(model: ServedModel, deps: LaneDeps): Promise<ModelLane> {
  const { log } = deps;
  // Closed last-first by release(), or at once when the lane fails to start.
  const resources = new ResourceStack((step, err) =>
    log.warn({ err: err.message, step }, 'model lane close step failed'),
  );
  try {
    return await openLane(model, deps, resources);
  } catch (err) {
    await resources.close();
    throw err;
  }
}

async function openLane(model: ServedModel, deps: LaneDeps, resources: ResourceStack): Promise<ModelLane> {
  const { config, log } = deps;
  const name = model.name;
  const elements = imageElements(model.meta);
  const buffers = new BatchBuffers({ maxBatch: config.MAX_BATCH, slotElements: elements, count: config.BATCH_BUFFERS });
  const views = buffers.buffers.map((b) => new Float32Array(b));
  const inference = resources.use(
    'inference thread',
    new InferenceClient({
      modelDir: model.dir,
      engine: config.ENGINE,
      intraOpThreads: config.INTRA_OP_THREADS,
      tfjsBackend: config.TFJS_BACKEND,
      buffers: buffers.buffers,
      maxBatch: config.MAX_BATCH,
    }),
    (i) => i.close(),
  );
  const pool = resources.use(
    'preprocess pool',
    new PreprocessPool(
      {
        threads: config.PREPROCESS_THREADS,
        stragglerThreads: config.STRAGGLER_THREADS,
        stragglerMs: config.STRAGGLER_WAIT_MS,
        slotsPerBuffer: config.MAX_BATCH,
        decodeTimeoutMs: config.DECODE_TIMEOUT_MS,
        onError: (err) => log.error({ model: name, err: err.message }, 'decode thread failed'),
      },
      {
        buffers: buffers.buffers,
        input: model.meta.input,
        preprocessing: model.meta.preprocessing,
        settings: preprocessSettings(config),
      },
    ),
    (p) => p.close(),
  );
  // Threads that cannot start fail this version with the reason (a bad model file does the same).
  const poolStarted = pool.started().catch((err: Error) => {
    throw new Error(`decode threads did not start: ${err.message}`);
  });
  const keys = modelKeys(deps.keys, name);
  // One blocking connection per request shard of this model: each shard's read loop blocks on its own.
  const blocking = keys.shards.map((shard) =>
    resources.use('redis (reads)', deps.connectBlocking(`host:${deps.hostId}:read:${name}${shard.index || ''}`), (c) =>
      c.disconnect(),
    ),
  );
  for (const conn of blocking) conn.on('error', () => deps.metrics.redisErrors.inc());

  // Awaited together: whichever fails first is the reason, and none is left rejecting unheard.
  const [engine] = await Promise.all([inference.ready, poolStarted, ...blocking.map((c) => whenReady(c))]);
  log.info(
    {
      ...engine.info,
      fallbackReason: engine.fallbackReason,
      loadMs: Math.round(engine.loadMs),
      warmupMs: Math.round(engine.warmupMs),
    },
    'model loaded',
  );
  if (engine.fallbackReason) log.warn({ reason: engine.fallbackReason }, `engine fell back to ${engine.info.engine}`);
  await ensureGroup(deps.command, keys);
  deps.metrics.addModel(name, engine.info);

  const publisher = new ResultPublisher(deps.command, keys, config.REPLY_TTL_S, name);
  const preprocess = ({ env, buffer, slot, deadline }: SlotFill): Promise<PreprocessOutcome> =>
    env.tensor
      ? Promise.resolve(copyTensor(env.tensor, views[buffer]!, slot, elements))
      : pool.run({ image: env.image, buffer, slot, deadline });
  const stages: Pick<BatcherDeps, 'preprocess' | 'infer' | 'complete'> = {
    preprocess,
    infer: (buffer, n) => inference.run(buffer, n),
    complete: (done) => publisher.publish(done),
  };
  const batcher = new Batcher({
    buffers,
    labels: model.meta.labels,
    maxBatchDelayMs: config.MAX_BATCH_DELAY_MS,
    stragglerWaitMs: config.STRAGGLER_WAIT_MS,
    ...(deps.tracer ? traceStages(deps.tracer, name, stages) : stages),
    onBatch: (stats) => {
      log.debug(stats, 'batch');
      deps.metrics.onBatch(name, stats);
      deps.onBatch?.(name, stats);
    },
    onPreprocess: (ms, ok) => deps.metrics.onPreprocess(name, ms, ok),
    onError: (err, context) => log.error({ err: err.message }, context),
  });
  const consumer = new RequestConsumer(
    blocking,
    keys,
    batcher,
    publisher,
    { consumerName: deps.hostId, claimIdleMs: config.CLAIM_IDLE_MS, blockMs: BLOCKING_READ_MS },
    log,
  );
  const onClaimed = consumer.onClaimed;
  consumer.onClaimed = (count) => {
    deps.metrics.claimed.labels(name).inc(count);
    onClaimed(count);
  };

  return {
    model,
    engine,
    inference,
    inFlight: () => batcher.inFlight,
    start: () => consumer.start(),
    backlogTaken: (timeoutMs) =>
      untilDelivered(
        deps.command,
        keys.shards.map((s) => s.requests),
        timeoutMs,
      ),
    finishQueued: async () => {
      const done = await untilDelivered(
        deps.command,
        keys.shards.map((s) => s.requests),
        config.REQUEST_TIMEOUT_MS,
      );
      if (!done)
        log.warn('requests were still arriving when the version stopped reading; other hosts serving it read them');
    },
    stopReading: () => consumer.stop(),
    drain: async () => {
      await batcher.drain();
      // Bounded: each pass answers what it took; entries delivered by a read that ended as reading stopped remain.
      for (let pass = 0; pass < 5; pass++) {
        const taken = await consumer.takeOwnPending(deps.command).catch((err: Error) => {
          log.warn({ err: err.message }, 'could not read own pending requests; other hosts will re-claim them');
          return 0;
        });
        if (taken === 0) break;
        log.info({ count: taken }, 'answering requests delivered to this host as it stopped reading');
        await batcher.drain();
      }
    },
    release: () => resources.close(),
  };
}
