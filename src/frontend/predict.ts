/**
 * POST /predict: read the body within its limits, find and sniff the image(s), queue them and wait
 * (enqueue-images.ts), then answer in the original API's shape. One image:
 *
 *   200 {success: true, predictions: [...]}            or its error, with that error's status
 *
 * Several images (the `image` field repeated, up to MAX_IMAGES_PER_REQUEST) are answered in upload order:
 *
 *   200 {success: true, results: [{success: true, predictions: [...]}, {success: false, error: {code, message}}, ...]}
 *
 * Only when no image succeeded and all failed with the same code does the request fail with that code, in the
 * single-image error shape and status (e.g. 503 NOT_READY, 504 DEADLINE_EXCEEDED, 415).
 */
import { type Config, TOPK_MAX } from '../config/config.ts';
import { lazyChild, type Logger } from '../observability/logger.ts';
import type { Access } from '../http/access.ts';
import { queueImages, type ImageResult, type QueueContext, type QueuedImages } from './enqueue-images.ts';
import type { IncomingRequest, ServerResponse } from '../http/types.ts';
import { extractImages } from './image-input.ts';
import { Answer } from '../http/respond.ts';
import { startServerSpan } from '../http/server-span.ts';
import type { ModelRepository } from '../model/repository.ts';
import { authorize } from './authorize.ts';
import type { BodyBudget } from './body-budget.ts';
import type { BodyPool } from '../http/body-pool.ts';
import { answerFailure, claimBody, withBody } from './request-body.ts';
import type { Guard } from '../auth/guard.ts';
import { chooseServing, VERSION_PARAM, type VersionView } from './version-routing.ts';

export interface PredictContext extends QueueContext, Access {
  config: Config;
  log: Logger;
  isDraining(): boolean;
  /** MAX_INFLIGHT_BODY_BYTES: bodies being received by this front end. */
  bodyBudget: BodyBudget;
  /** Body buffers used again (BODY_POOL_BYTES). */
  bodyPool: BodyPool;
  /** API keys (and their rate limit) on inference; absent or disabled: open. */
  inferenceGuard?: Guard;
  /** The models this deployment serves; ?model= picks one, else the default. */
  repository: ModelRepository;
  /** Which version of a model takes a request (?version= pins one); absent: version 1. */
  versions?: VersionView;
}

const NO_QUERY: Pick<URLSearchParams, 'get'> = new URLSearchParams();

export function handlePredict(ctx: PredictContext, req: IncomingRequest, res: ServerResponse): void {
  const answer = new Answer(res, req, '/predict', ctx);
  if (ctx.tracer) answer.span = startServerSpan(ctx.tracer, req, '/predict');
  if (ctx.isDraining()) {
    answer.closeConnection = true;
    answer.error('SHUTTING_DOWN');
    return;
  }
  if (!authorize(ctx.inferenceGuard, req, answer)) return;
  // Most requests have no query: no parser for them.
  const query = req.query ? new URLSearchParams(req.query) : NO_QUERY;
  // No ?model= means the default model: the original contract, unchanged.
  const modelParam = query.get('model');
  const served = ctx.repository.get(modelParam || ctx.repository.defaultModel);
  const model = served?.name;
  if (!served || !model) {
    answer.error('MODEL_NOT_FOUND', ctx.repository.notFound(String(modelParam)));
    return;
  }
  const versionParam = query.get('version');
  if (versionParam !== null && !VERSION_PARAM.test(versionParam)) {
    answer.error('BAD_REQUEST', '"version" must be a positive integer.');
    return;
  }
  const choice = chooseServing(ctx.versions, model, versionParam === null ? undefined : Number(versionParam));
  if (!choice.ok) {
    answer.error(choice.code, choice.message);
    return;
  }
  // The version's own request stream; results from any other version are refused.
  const serving = choice.serving;
  answer.annotate({ model, version: choice.version });
  let topk = ctx.config.TOPK_DEFAULT;
  const topkParam = query.get('topk');
  if (topkParam) {
    topk = Number(topkParam);
    if (!Number.isInteger(topk) || topk < 1 || topk > TOPK_MAX) {
      answer.error('BAD_REQUEST', `"topk" must be an integer from 1 to ${TOPK_MAX}.`);
      return;
    }
  }
  const body = claimBody(ctx, req, res, answer);
  if (!body) return;
  const contentType = req.headers['content-type'] ?? '';
  const log = lazyChild(ctx.log, { reqId: answer.id, model });

  void withBody(ctx, body, async (bytes) => {
    const limits = { maxImages: ctx.config.MAX_IMAGES_PER_REQUEST, maxParts: ctx.config.MAX_MULTIPART_PARTS };
    const input = await extractImages(bytes, contentType, limits);
    if (!input.ok) return answer.error(input.code, input.message);
    const deadline = answer.startedAt + ctx.config.REQUEST_TIMEOUT_MS;
    const queued = await queueImages(ctx, {
      items: input.images,
      model: serving,
      topk,
      deadline,
      cache: ctx.responseCache?.scope(served, choice.version),
      trace: answer.span,
      log,
      onAbort: (l) => res.onAbort(l),
    });
    if (queued) answerResults(answer, queued);
  }).catch((err: Error) => answerFailure(ctx, answer, err, log, 'predict'));
}

function answerResults(answer: Answer, { results, timings, cacheHits }: QueuedImages): void {
  if (results.length === 1) {
    const result = results[0]!;
    if (!result.success) return void answer.error(result.error.code, result.error.message);
    const t = timings[0];
    answer.json(
      200,
      { success: true, predictions: result.predictions },
      cacheHits > 0
        ? { cached: true }
        : { batchSize: t?.batchSize, inferenceMs: t?.inferenceMs, preprocessMs: t?.preprocessMs },
    );
    return;
  }
  const failures = results.filter((r): r is Extract<ImageResult, { success: false }> => !r.success);
  const codes = new Set(failures.map((f) => f.error.code));
  if (failures.length === results.length && codes.size === 1) {
    const { code, message } = failures[0]!.error;
    return void answer.error(code, message, { detail: `all ${results.length} images failed` });
  }
  const batchSizes = timings.flatMap((t) => (t ? [t.batchSize] : []));
  answer.json(
    200,
    { success: true, results },
    { images: results.length, failed: failures.length, failedCodes: [...codes], batchSizes, cacheHits },
  );
}
