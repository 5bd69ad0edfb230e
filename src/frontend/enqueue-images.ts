/**
 * Queues the images of one /predict request and answers it when all results are in (or at the deadline). Each
 * image becomes its own envelope with its own random internal id on the request stream, so the batcher treats
 * them like separate requests; admissions are pipelined. One image keeps the original API's shape:
 *
 *   200 {success: true, predictions: [...]}            or its error, with that error's status
 *
 * Several images (the `image` field repeated, up to MAX_IMAGES_PER_REQUEST) are answered in upload order:
 *
 *   200 {success: true, results: [{success: true, predictions: [...]}, {success: false, error: {code, message}}, ...]}
 *
 * An image that fails (not an image, undecodable, too many pixels, refused by admission, past the deadline)
 * fails alone. Only when no image succeeded and all failed with the same code does the request fail with that
 * code, in the single-image error shape and status (e.g. 503 NOT_READY, 504 DEADLINE_EXCEEDED, 415).
 */
import { randomUUID } from 'node:crypto';
import type { HttpResponse } from 'uWebSockets.js';
import type { Logger } from '../observability/logger.ts';
import { packEnvelope, WIRE_VERSION, type Prediction, type ResultTimings } from '../wire/envelope.ts';
import { errorCodes, type ErrorCode } from '../wire/errors.ts';
import { admitRequest } from './admission.ts';
import type { ImageItem } from './image-input.ts';
import type { PredictContext } from './predict.ts';
import { sendJson, type RequestState } from './respond.ts';

export type ImageResult =
  | { success: true; predictions: Prediction[] }
  | { success: false; error: { code: ErrorCode; message: string } };

type Fail = (code: ErrorCode, message?: string, detail?: string) => void;

function itemError(code: ErrorCode, message: string = errorCodes[code].message): ImageResult {
  return { success: false, error: { code, message } };
}

export async function enqueueImages(
  ctx: PredictContext, res: HttpResponse, state: RequestState, items: ImageItem[], topk: number, log: Logger, fail: Fail,
): Promise<void> {
  const deadline = state.startedAt + ctx.config.REQUEST_TIMEOUT_MS;
  const results: Array<ImageResult | undefined> = items.map((item) => (item.ok ? undefined : itemError(item.code, item.message)));
  const timings: Array<ResultTimings | undefined> = [];
  const queued: Array<{ index: number; id: string; envelope: Buffer }> = [];
  let waiting = 0;

  const finish = () => {
    const all = results as ImageResult[];
    if (items.length === 1) return answerOne(all[0]!, timings[0]);
    const failures = all.filter((r): r is Extract<ImageResult, { success: false }> => !r.success);
    const codes = new Set(failures.map((f) => f.error.code));
    if (failures.length === all.length && codes.size === 1) {
      const { code, message } = failures[0]!.error;
      return fail(code, message, `all ${all.length} images failed`);
    }
    if (sendJson(res, state, 200, { success: true, results: all })) {
      const ms = Date.now() - state.startedAt;
      const batchSizes = timings.flatMap((t) => (t ? [t.batchSize] : []));
      log.info({ status: 200, ms, images: all.length, failed: failures.length, failedCodes: [...codes], batchSizes }, 'request done');
      ctx.onAnswered?.(200, undefined, ms);
    }
  };
  const answerOne = (result: ImageResult, t: ResultTimings | undefined) => {
    if (!result.success) return fail(result.error.code, result.error.message);
    if (sendJson(res, state, 200, { success: true, predictions: result.predictions })) {
      const ms = Date.now() - state.startedAt;
      log.info({ status: 200, ms, batchSize: t?.batchSize, inferenceMs: t?.inferenceMs, preprocessMs: t?.preprocessMs }, 'request done');
      ctx.onAnswered?.(200, undefined, ms);
    }
  };
  const settleOne = (index: number, result: ImageResult) => {
    results[index] = result;
    if (--waiting === 0) finish();
  };

  items.forEach((item, index) => {
    if (!item.ok) return;
    const id = randomUUID();
    queued.push({ index, id, envelope: packEnvelope({ v: WIRE_VERSION, id, image: item.image, topk, deadline, replyTo: ctx.replyStream }) });
  });
  if (queued.length === 0) return finish();
  waiting = queued.length;

  for (const { index, id } of queued) {
    ctx.pending.add(id, deadline, (outcome) => {
      if (outcome.kind === 'gone') return;
      if (outcome.kind === 'deadline') {
        ctx.metrics?.images.labels('DEADLINE_EXCEEDED').inc();
        return settleOne(index, itemError('DEADLINE_EXCEEDED'));
      }
      const r = outcome.result;
      ctx.metrics?.images.labels(r.ok ? 'ok' : r.code).inc();
      if (r.ok) timings[index] = r.timings;
      settleOne(index, r.ok ? { success: true, predictions: r.predictions } : itemError(r.code, r.message));
    });
  }
  state.onAbort = () => {
    for (const { id } of queued) ctx.pending.settle(id, { kind: 'gone' });
  };
  ctx.metrics?.imagesPerRequest.observe(items.length);

  // Each envelope is admitted on its own (the admission script is per entry); the calls are pipelined.
  const admissions = await Promise.all(queued.map(({ envelope }) => admitRequest(ctx.redis, ctx.keys, ctx.config.MAX_QUEUE, envelope).then(
    (a) => ({ a, err: undefined as Error | undefined }),
    (err: Error) => ({ a: undefined, err }),
  )));
  admissions.forEach(({ a, err }, k) => {
    if (a === 'queued') return;
    const { index, id } = queued[k]!;
    if (!ctx.pending.settle(id, { kind: 'gone' })) return; // already answered or the client left
    if (err) {
      ctx.metrics?.redisErrors.inc();
      log.warn({ err: err.message, image: index }, 'admission failed');
    }
    settleOne(index, err ? itemError('NOT_READY', 'Redis is unreachable.') : a === 'no-host' ? itemError('NOT_READY', 'No model host is live.') : itemError('OVERLOADED'));
  });
}
