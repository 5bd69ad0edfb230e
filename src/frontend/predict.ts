/**
 * POST /predict: read the body within its limits, find and sniff the image, queue it with admitRequest, wait for
 * the result or the deadline, answer in the original API's shape.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { packEnvelope, WIRE_VERSION } from '../wire/envelope.ts';
import type { Keys } from '../wire/keys.ts';
import { errorCodes, type ErrorCode } from '../wire/errors.ts';
import { admitRequest } from './admission.ts';
import { extractImages } from './image-input.ts';
import { enqueueMany } from './predict-many.ts';
import type { FrontendMetrics } from '../observability/metrics.ts';
import type { PendingRequests } from './pending.ts';
import { BodyError, readBody } from './read-body.ts';
import { sendError, sendJson, type RequestState } from './respond.ts';
import { requestState } from './access.ts';
import type { Uws } from './uws.ts';

export interface PredictContext {
  uws: Uws;
  config: Config;
  redis: Redis;
  keys: Keys;
  replyStream: string;
  pending: PendingRequests;
  log: Logger;
  isDraining(): boolean;
  onAnswered?(status: number, code: ErrorCode | undefined, ms: number): void;
  /** Per-image counters; absent in contexts built without metrics. */
  metrics?: FrontendMetrics;
}

export function handlePredict(ctx: PredictContext, res: HttpResponse, req: HttpRequest): void {
  // Everything needed from req is read now: it is only valid during this callback.
  const state = requestState(req);
  res.onAborted(() => {
    state.aborted = true;
    state.onAbort?.();
    // The request's one access line when the client leaves before its answer (nginx's 499).
    if (!state.answered) {
      const ms = Date.now() - state.startedAt;
      log.info({ status: 499, ms }, 'request aborted');
      ctx.onAnswered?.(499, undefined, ms);
    }
  });
  const contentType = req.getHeader('content-type');
  const lengthHeader = req.getHeader('content-length');
  const topkParam = req.getQuery('topk');
  const log = ctx.log.child({ reqId: state.id, method: 'POST', route: '/predict' });

  const fail = (code: ErrorCode, message?: string, detail?: string) => {
    const headers: Record<string, string> = code === 'OVERLOADED' || code === 'NOT_READY' || code === 'SHUTTING_DOWN' ? { 'Retry-After': '1' } : {};
    const status = errorCodes[code].status;
    if (sendError(res, state, code, message, headers)) {
      log[status >= 500 ? 'warn' : 'info']({ status, code, detail, ms: Date.now() - state.startedAt }, 'request failed');
      ctx.onAnswered?.(status, code, Date.now() - state.startedAt);
    }
  };

  if (ctx.isDraining()) {
    state.closeConnection = true;
    return fail('SHUTTING_DOWN');
  }
  let topk = ctx.config.TOPK_DEFAULT;
  if (topkParam) {
    topk = Number(topkParam);
    if (!Number.isInteger(topk) || topk < 1 || topk > 1000) return fail('BAD_REQUEST', '"topk" must be an integer from 1 to 1000.');
  }
  const declared = lengthHeader ? Number(lengthHeader) : undefined;
  if (declared !== undefined && !Number.isSafeInteger(declared)) return fail('BAD_REQUEST', 'Invalid Content-Length.');
  if (declared !== undefined && declared > ctx.config.BODY_LIMIT_BYTES) {
    // Refuse without reading the body, and close: the client may still be sending it.
    state.closeConnection = true;
    return fail('BODY_TOO_LARGE', `The request body is larger than ${ctx.config.BODY_LIMIT_BYTES} bytes.`);
  }

  readBody(res, state, declared, ctx.config.BODY_LIMIT_BYTES, ctx.config.BODY_TIMEOUT_MS)
    .then((body) => {
      if (state.aborted) return;
      const input = extractImages(ctx.uws, body, contentType, ctx.config.MAX_IMAGES_PER_REQUEST);
      if (!input.ok) return fail(input.code, input.message);
      const [one] = input.images;
      // One image keeps the original response shape; several get one result each, in order.
      if (input.images.length === 1 && one?.ok) return enqueue(ctx, res, state, one.image, topk, log, fail);
      return enqueueMany(ctx, res, state, input.images, topk, log, fail);
    })
    .catch((err: Error) => {
      if (err instanceof BodyError) {
        state.closeConnection = true;
        return fail(err.code, err.code === 'BODY_TOO_LARGE' ? `The request body is larger than ${ctx.config.BODY_LIMIT_BYTES} bytes.` : undefined);
      }
      log.error({ err: err.message }, 'predict failed');
      fail('INTERNAL');
    });
}

async function enqueue(
  ctx: PredictContext, res: HttpResponse, state: RequestState, image: Uint8Array, topk: number, log: Logger,
  fail: (code: ErrorCode, message?: string, detail?: string) => void,
): Promise<void> {
  const deadline = state.startedAt + ctx.config.REQUEST_TIMEOUT_MS;
  // The internal id is always ours and random: a client-chosen X-Request-Id is for logs, never a key.
  const id = randomUUID();
  const envelope = packEnvelope({ v: WIRE_VERSION, id, image, topk, deadline, replyTo: ctx.replyStream });
  ctx.pending.add(id, deadline, (outcome) => {
    if (outcome.kind === 'gone') return;
    ctx.metrics?.images.labels(outcome.kind === 'deadline' ? 'DEADLINE_EXCEEDED' : outcome.result.ok ? 'ok' : outcome.result.code).inc();
    if (outcome.kind === 'deadline') return fail('DEADLINE_EXCEEDED');
    const r = outcome.result;
    if (!r.ok) return fail(r.code, r.message);
    if (sendJson(res, state, 200, { success: true, predictions: r.predictions })) {
      const ms = Date.now() - state.startedAt;
      log.info({ status: 200, ms, batchSize: r.timings?.batchSize, inferenceMs: r.timings?.inferenceMs, preprocessMs: r.timings?.preprocessMs }, 'request done');
      ctx.onAnswered?.(200, undefined, ms);
    }
  });
  state.onAbort = () => ctx.pending.settle(id, { kind: 'gone' });
  ctx.metrics?.imagesPerRequest.observe(1);

  let admission;
  try {
    admission = await admitRequest(ctx.redis, ctx.keys, ctx.config.MAX_QUEUE, envelope);
  } catch (err) {
    ctx.pending.settle(id, { kind: 'gone' });
    ctx.metrics?.redisErrors.inc();
    return fail('NOT_READY', 'Redis is unreachable.', (err as Error).message);
  }
  if (admission === 'queued') return;
  ctx.pending.settle(id, { kind: 'gone' });
  if (admission === 'no-host') fail('NOT_READY', 'No model host is live.');
  else fail('OVERLOADED');
}
