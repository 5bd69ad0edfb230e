/**
 * The one place where an inference request of the Open Inference Protocol enters the shared request path,
 * whichever protocol carried it (REST routes.ts, gRPC src/grpc/handlers.ts): its deadline, its elements queued
 * and batched like /predict images (enqueue-images.ts), element failures, and the output tensor. The protocols
 * only parse their request into an InferRequest before, and encode the OutputTensor after.
 */
import type { Config } from '../../config/config.ts';
import type { Logger } from '../../observability/logger.ts';
import type { ErrorCode } from '../../wire/errors.ts';
import { queueImages, type QueueContext, type QueueItem } from '../enqueue-images.ts';
import type { Exchange } from '../../http/exchange.ts';
import { outputTensor, type OutputRequest, type OutputTensor } from './infer-output.ts';
import { finiteFloat32 } from './tensor-input.ts';
import type { InferTarget } from './model-info.ts';

/** A parsed inference request, protocol-neutral. */
export interface InferRequest {
  id?: string;
  items: QueueItem[];
  output: OutputRequest;
  /** parameters.timeout, converted from microseconds to milliseconds. */
  timeoutMs?: number;
}

export type Parsed = { ok: true; request: InferRequest } | { ok: false; code: ErrorCode; message: string };

export interface InferContext extends QueueContext {
  config: Config;
  log: Logger;
}

export interface Inferred {
  tensor: OutputTensor;
  /** The batch sizes its elements ran in, for the access line. */
  batchSizes: number[];
  /** Elements answered from the response cache (no host asked). */
  cacheHits: number;
}

/**
 * Runs the request on `target`; resolves with its output, or undefined when it was answered (an error) or the
 * client left. The deadline is the earliest of REQUEST_TIMEOUT_MS, the request's timeout parameter and the
 * client's own deadline (epoch ms, gRPC's grpc-timeout), so a host drops it unrun once nobody waits for it.
 */
export async function runInference(
  ctx: InferContext,
  exchange: Exchange,
  target: InferTarget,
  request: InferRequest,
  log: () => Logger,
  clientDeadline = Number.POSITIVE_INFINITY,
): Promise<Inferred | undefined> {
  const { items, output, timeoutMs } = request;
  const deadline = Math.min(
    exchange.startedAt + ctx.config.REQUEST_TIMEOUT_MS,
    timeoutMs === undefined ? Number.POSITIVE_INFINITY : exchange.startedAt + timeoutMs,
    clientDeadline,
  );
  const labels = target.model.meta.labels;
  const queued = await queueImages(ctx, {
    items,
    model: target.serving,
    topk: 1,
    scores: true,
    deadline,
    cache: ctx.responseCache?.scope(target.model, target.version),
    trace: exchange.span,
    log,
    onAbort: (l) => exchange.onAbort(l),
  });
  if (!queued) return undefined;
  // The protocol has no per-element errors: the first failed element fails the request, with its status.
  const failed = queued.results.findIndex((r) => !r.success);
  if (failed >= 0) {
    const r = queued.results[failed]!;
    const { code, message } = r.success ? { code: 'INTERNAL' as ErrorCode, message: '' } : r.error;
    exchange.error(code, items.length > 1 ? `element ${failed}: ${message}` : message, { failedElement: failed });
    return undefined;
  }
  const rows = queued.scores.map((s) => s ?? new Uint8Array(labels.length * 4));
  // JSON has no NaN or Infinity (they would go out as null): finite input the model cannot take is refused.
  const overflowed = rows.findIndex((row) => !finiteFloat32(row));
  if (overflowed >= 0) {
    const message = `${items.length > 1 ? `element ${overflowed}: ` : ''}the model's output for this input is not finite (NaN or Infinity): its values are outside the range the model takes.`;
    exchange.error('BAD_REQUEST', message, { failedElement: overflowed });
    return undefined;
  }
  return {
    tensor: outputTensor(labels, rows, output),
    batchSizes: queued.timings.flatMap((t) => (t ? [t.batchSize] : [])),
    cacheHits: queued.cacheHits,
  };
}
