/**
 * POST /predict: read the body within its limits, find and sniff the image(s), then hand them to enqueueImages,
 * which queues them and answers in the original API's shape.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { RedisClient } from '../redis/connect.ts';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Keys } from '../wire/keys.ts';
import { errorCodes, type ErrorCode } from '../wire/errors.ts';
import { extractImages } from './image-input.ts';
import { enqueueImages } from './enqueue-images.ts';
import type { FrontendMetrics } from '../observability/metrics.ts';
import type { PendingRequests } from './pending.ts';
import { BodyError, readBody } from './read-body.ts';
import { sendError } from './respond.ts';
import { requestState } from './access.ts';
import type { Uws } from './uws.ts';

export interface PredictContext {
  uws: Uws;
  config: Config;
  redis: RedisClient;
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
    .then(async (body) => {
      if (state.aborted) return;
      const limits = { maxImages: ctx.config.MAX_IMAGES_PER_REQUEST, maxParts: ctx.config.MAX_MULTIPART_PARTS };
      const input = await extractImages(body, contentType, limits);
      if (state.aborted) return;
      if (!input.ok) return fail(input.code, input.message);
      return enqueueImages(ctx, res, state, input.images, topk, log, fail);
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
