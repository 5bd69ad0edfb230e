/**
 * Queueing and waiting: each image of a request becomes its own entry, with its own internal id, on
 * the request stream (so the batcher treats them like separate requests; admissions are pipelined), and we wait
 * until every image has a result, an error, or met the request's deadline. Answering is the caller's job.
 *
 * An image that fails (not an image, undecodable, too many pixels, refused by admission, past the deadline)
 * fails alone, in its own place of the results. With the response cache, an image answered before is answered
 * from it and never queued; a queued one asks for every probability, which is then stored for the next time.
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Logger } from '../observability/logger.ts';
import type { FrontendMetrics } from '../observability/metrics.ts';
import { encodeRequest, type Prediction, type RequestEntry, type ResultTimings } from '../wire/envelope.ts';
import { errorCodes, type ErrorCode } from '../wire/errors.ts';
import { modelKeys, type Keys } from '../wire/keys.ts';
import { admitRequest, type QueueBounds } from './admission.ts';
import type { ImageItem } from './image-input.ts';
import type { PendingRequests } from './pending.ts';
import type { CacheScope, ResponseCache } from './response-cache.ts';
import type { Span, Tracer } from '../observability/tracer.ts';
import { topK } from '../model/rank.ts';

export type ImageResult =
  | { success: true; predictions: Prediction[] }
  | { success: false; error: { code: ErrorCode; message: string } };

export interface QueueContext {
  redis: RedisClient;
  keys: Keys;
  /** Requests (MAX_QUEUE) and bytes (MAX_QUEUE_BYTES) queued or in flight deployment-wide before OVERLOADED. */
  bounds: QueueBounds;
  replyStream: string;
  pending: PendingRequests;
  metrics: FrontendMetrics;
  /** Present when some model is cached (RESPONSE_CACHE, config.json). */
  responseCache?: ResponseCache | undefined;
  /** Present when tracing is on. */
  tracer?: Tracer | undefined;
}

export interface QueuedImages {
  /** In upload order, one per image. */
  results: ImageResult[];
  /** Stage times of the images that ran, by index. */
  timings: Array<ResultTimings | undefined>;
  /** Every class's probability (float32 bytes) of the images that ran, by index, when `scores` was asked. */
  scores: Array<Uint8Array | undefined>;
  /** How many images the response cache answered. */
  cacheHits: number;
}

/** An image to decode, or an Open Inference Protocol tensor that goes into the batch as it is. */
export type QueueItem = ImageItem | { ok: true; tensor: Uint8Array };

export interface QueueRequest {
  items: QueueItem[];
  /** The model (its own request stream); results from any other model are refused. */
  model: string;
  topk: number;
  /** Ask the host for every class's probability besides the top k. */
  scores?: boolean;
  /** Epoch ms. */
  deadline: number;
  /** The request's server span, when tracing is on: the entries carry its context to the host. */
  trace?: Span | undefined;
  /** The model version's response cache scope (ResponseCache.scope), when the front end has a cache. */
  cache?: Promise<CacheScope | undefined> | undefined;
  /** Registers a listener for the client going away: its pending entries are freed at once. */
  onAbort(listener: () => void): void;
  /** The request's logger, made on first use (errors only). */
  log: () => Logger;
}

const NO_CACHE = { keys: [] as Array<string | undefined>, hits: 0 };

export function itemError(code: ErrorCode, message: string = errorCodes[code].message): ImageResult {
  return { success: false, error: { code, message } };
}

/** Resolves with every image's result, or with undefined when the client went away first. */
export async function queueImages(ctx: QueueContext, request: QueueRequest): Promise<QueuedImages | undefined> {
  const { items, model, topk, deadline, log } = request;
  const keys = modelKeys(ctx.keys, model);
  const scores: Array<Uint8Array | undefined> = [];
  const results: Array<ImageResult | undefined> = items.map((item) =>
    item.ok ? undefined : itemError(item.code, item.message),
  );
  const timings: Array<ResultTimings | undefined> = [];
  const { responseCache } = ctx;
  const scope = request.cache && (await request.cache);
  const cache = scope && responseCache && { scope, store: responseCache };
  const { trace } = request;
  const lookup = cache && trace && ctx.tracer?.start('response cache lookup', trace);
  const { keys: cacheKeys, hits: cacheHits } = cache
    ? await answerFromCache(cache.store, cache.scope, items, topk, results, scores)
    : NO_CACHE;
  if (lookup) endStep(lookup, { 'classify.cache.hits': cacheHits });
  const traceFields = trace?.propagation();
  const queued: Array<{ index: number; id: string; entry: RequestEntry }> = [];
  items.forEach((item, index) => {
    if (!item.ok || results[index]) return;
    const id = ctx.pending.newId();
    // A cached model always asks for every probability: the cache entry is the whole vector.
    const all = request.scores || cache;
    const common = { id, topk, deadline, replyTo: ctx.replyStream, ...(all && { scores: true }), ...traceFields };
    const entry = encodeRequest(
      'tensor' in item ? { ...common, tensor: item.tensor } : { ...common, image: item.image },
    );
    queued.push({ index, id, entry });
  });
  if (queued.length === 0) return { results: results as ImageResult[], timings, scores, cacheHits };
  ctx.metrics.imagesPerRequest.observe(items.length);

  let waiting = queued.length;
  let allIn!: (done: QueuedImages | undefined) => void;
  const finished = new Promise<QueuedImages | undefined>((resolve) => {
    allIn = resolve;
  });
  const settleOne = (index: number, result: ImageResult) => {
    results[index] = result;
    if (--waiting === 0) allIn({ results: results as ImageResult[], timings, scores, cacheHits });
  };
  for (const { index, id } of queued) {
    ctx.pending.add(id, deadline, (outcome) => {
      if (outcome.kind === 'gone') return;
      if (outcome.kind === 'deadline') {
        ctx.metrics.images.labels(model, 'DEADLINE_EXCEEDED').inc();
        return settleOne(index, itemError('DEADLINE_EXCEEDED'));
      }
      const r = outcome.result;
      if (r.model !== undefined && r.model !== model) {
        // Cannot happen by design (one stream per model); if it did, answering would give another model's scores.
        log().error({ expected: model, answeredBy: r.model, image: index }, 'result from another model refused');
        ctx.metrics.images.labels(model, 'INTERNAL').inc();
        return settleOne(index, itemError('INTERNAL'));
      }
      ctx.metrics.images.labels(model, r.ok ? 'ok' : r.code).inc();
      if (r.ok) {
        timings[index] = r.timings;
        scores[index] = r.scores;
        const key = cacheKeys[index];
        if (cache && key && r.scores) cache.store.store(cache.scope, key, r.scores);
      }
      settleOne(index, r.ok ? { success: true, predictions: r.predictions } : itemError(r.code, r.message));
    });
  }
  request.onAbort(() => {
    for (const { id } of queued) ctx.pending.settle(id, { kind: 'gone' });
    allIn(undefined);
  });

  // Each entry is admitted on its own (the admission script is per entry); the calls are pipelined.
  const admitting = trace && ctx.tracer?.start('admission', trace, { 'classify.images': queued.length });
  const admissions = await Promise.all(
    queued.map(({ entry }) =>
      admitRequest(ctx.redis, keys, ctx.bounds, entry).then(
        (a) => ({ a, err: undefined as Error | undefined }),
        (err: Error) => ({ a: undefined, err }),
      ),
    ),
  );
  if (admitting) {
    const refused = admissions.find(({ a }) => a !== 'queued');
    const queuedCount = admissions.filter(({ a }) => a === 'queued').length;
    endStep(
      admitting,
      { 'classify.queued': queuedCount },
      refused && (refused.a === 'full' ? 'OVERLOADED' : 'NOT_READY'),
    );
  }
  admissions.forEach(({ a, err }, k) => {
    if (a === 'queued') return;
    const { index, id } = queued[k]!;
    if (!ctx.pending.settle(id, { kind: 'gone' })) return; // already answered or the client left
    if (err) {
      ctx.metrics.redisErrors.inc();
      log().warn({ err: err.message, image: index }, 'admission failed');
    }
    settleOne(
      index,
      err
        ? itemError('NOT_READY', 'Redis is unreachable.')
        : a === 'no-host'
          ? itemError('NOT_READY', `No live model host serves model ${model}.`)
          : itemError('OVERLOADED'),
    );
  });
  return finished;
}

/**
 * Looks every image up (concurrently) and answers the hits in place: their predictions and probabilities.
 * Returns each image's entry key by index, for storing the misses' answers, and how many were hits.
 */
async function answerFromCache(
  cache: ResponseCache,
  scope: CacheScope,
  items: readonly QueueItem[],
  topk: number,
  results: Array<ImageResult | undefined>,
  scores: Array<Uint8Array | undefined>,
): Promise<{ keys: Array<string | undefined>; hits: number }> {
  let hits = 0;
  const lookups = await Promise.all(
    items.map((item) => (item.ok && 'image' in item ? cache.lookup(scope, item.image) : undefined)),
  );
  const keys = lookups.map((found, index) => {
    if (found?.scores) {
      hits++;
      results[index] = { success: true, predictions: topK(found.scores, 0, scope.labels, topk) };
      scores[index] = new Uint8Array(found.scores.buffer);
    }
    return found?.key;
  });
  return { keys, hits };
}

/** Ends a traced step of the request with what it found, and the error code when it failed. */
function endStep(span: Span, attributes: Record<string, number>, code?: ErrorCode): void {
  span.setAttributes(attributes);
  if (code) span.fail(code);
  span.end();
}
