/**
 * Claims an inference request's body within its limits, for /predict and the Open Inference Protocol alike: a
 * valid Content-Length within BODY_LIMIT_BYTES (refused unread otherwise), room in MAX_INFLIGHT_BODY_BYTES, and
 * the body read within BODY_TIMEOUT_MS. Returns undefined when the request has been answered already.
 */
import type { Config } from '../config/config.ts';
import type { BodyBudget } from './body-budget.ts';
import type { BodyPool } from '../http/body-pool.ts';
import { BodyError, type IncomingRequest, type ServerResponse } from '../http/types.ts';
import { tooLargeMessage, type Answer } from '../http/respond.ts';
import type { Logger } from '../observability/logger.ts';

export interface BodyContext {
  config: Config;
  bodyBudget: BodyBudget;
  /** Body buffers used again: a claimed body goes back through withBody. */
  bodyPool: BodyPool;
}

export function claimBody(
  ctx: BodyContext,
  req: IncomingRequest,
  res: ServerResponse,
  answer: Answer,
): Promise<Buffer> | undefined {
  const lengthHeader = req.headers['content-length'];
  const declaredLength = lengthHeader ? Number(lengthHeader) : undefined;
  if (declaredLength !== undefined && !Number.isSafeInteger(declaredLength)) {
    answer.error('BAD_REQUEST', 'Invalid Content-Length.');
    return undefined;
  }
  const limit = ctx.config.BODY_LIMIT_BYTES;
  if (declaredLength !== undefined && declaredLength > limit) {
    // Refuse without reading the body, and close: the client may still be sending it.
    answer.closeConnection = true;
    answer.error('BODY_TOO_LARGE', tooLargeMessage(limit));
    return undefined;
  }
  const reserved = declaredLength ?? limit;
  if (!ctx.bodyBudget.take(reserved)) {
    // Refused before reading: close, the client may still be sending the body.
    answer.closeConnection = true;
    answer.error('OVERLOADED', 'Too many request bodies are being received; retry later.', {
      inflightBodyBytes: ctx.bodyBudget.inUse,
    });
    return undefined;
  }
  // Claimed before returning: uWS hands body bytes only to a reader registered by then.
  const body = res.readBody({ declaredLength, limit, timeoutMs: ctx.config.BODY_TIMEOUT_MS, pool: ctx.bodyPool });
  const release = () => ctx.bodyBudget.give(reserved);
  body.then(release, release);
  return body;
}

/** Answers an inference request that failed: its body's own error (nothing if the client left), else INTERNAL. */
export function answerFailure(ctx: BodyContext, answer: Answer, err: Error, log: () => Logger, what: string): void {
  if (err instanceof BodyError) return answer.bodyError(err, ctx.config.BODY_LIMIT_BYTES);
  log().error({ err: err.message }, `${what} failed`);
  answer.error('INTERNAL');
}

/**
 * Runs `use` on a claimed body, then gives its buffer back to the pool. Only once `use` has settled: for an
 * inference request that is after queueImages returned, when every admission has settled (its bytes are in
 * Redis or refused), so nothing reads the body any more.
 */
export async function withBody<T>(
  ctx: BodyContext,
  body: Promise<Buffer>,
  use: (bytes: Buffer) => Promise<T>,
): Promise<T> {
  const bytes = await body;
  try {
    return await use(bytes);
  } finally {
    ctx.bodyPool.give(bytes);
  }
}
