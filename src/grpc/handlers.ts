/**
 * The six RPCs of inference.GRPCInferenceService, each on the same protocol-neutral pieces as its REST route
 * (src/frontend/v2/): server and model metadata, readiness, and inference through the one shared inference path.
 * A request message that did not parse, or a handler that throws, is answered, never left hanging.
 */
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { lazyChild, type Logger } from '../observability/logger.ts';
import { isMalformed, type Malformed, type RpcName, type Rpcs } from '../wire/open-inference-grpc.ts';
import { runInference, type InferContext } from '../frontend/v2/infer-path.ts';
import {
  modelMetadata,
  modelReady,
  resolveModel,
  resolveTarget,
  serverMetadata,
  tensorModel,
  type ModelInfoContext,
} from '../frontend/v2/model-info.ts';
import { exchangeOf } from './call-interceptor.ts';
import type { GrpcExchange } from './grpc-exchange.ts';
import { modelInferResponse, parseModelInfer } from './infer-message.ts';

export interface GrpcContext extends InferContext, ModelInfoContext {
  log: Logger;
  isDraining(): boolean;
  /** Readiness as REST's /readyz: every model served has a live host, Redis answers, not draining. */
  ready(): Promise<boolean>;
}

type Handler<N extends RpcName> = (
  request: Rpcs[N][0],
  exchange: GrpcExchange,
  call: ServerUnaryCall<unknown, unknown>,
) => Promise<void> | void;

/** An empty `version` is the protocol's "the server chooses". */
const versionOf = (v: string): string | undefined => (v === '' ? undefined : v);

/** A client deadline as epoch ms (grpc-js gives a Date, or Infinity when the client set none). */
function deadlineMs(call: ServerUnaryCall<unknown, unknown>): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}

export function grpcHandlers(ctx: GrpcContext): UntypedServiceImplementation {
  const unary =
    <N extends RpcName>(rpc: N, handle: Handler<N>) =>
    (call: ServerUnaryCall<Rpcs[N][0] | Malformed, unknown>, callback: sendUnaryData<unknown>) => {
      const exchange = exchangeOf(call.metadata);
      exchange.bind(callback);
      const request = call.request;
      if (isMalformed(request)) return void exchange.error('BAD_REQUEST', request.malformed);
      Promise.resolve()
        .then(() => handle(request, exchange, call as ServerUnaryCall<unknown, unknown>))
        .catch((err: Error) => {
          ctx.log.error({ err: err.message, reqId: exchange.id, rpc }, 'gRPC call failed');
          exchange.error('INTERNAL');
        });
    };

  return {
    ServerLive: unary('ServerLive', (_req, exchange) => void exchange.reply({ live: true })),
    ServerReady: unary('ServerReady', async (_req, exchange) => void exchange.reply({ ready: await ctx.ready() })),
    ServerMetadata: unary('ServerMetadata', (_req, exchange) => void exchange.reply(serverMetadata())),
    ModelMetadata: unary('ModelMetadata', async (req, exchange) => {
      const version = versionOf(req.version);
      const model = resolveModel(ctx, exchange, req.name, version);
      if (!model) return;
      // A pinned version must exist (NOT_FOUND otherwise), as for ModelInfer.
      if (version !== undefined && !resolveTarget(ctx, exchange, model, version)) return;
      const { properties: _, ...meta } = await modelMetadata(ctx, model);
      exchange.reply(meta);
    }),
    ModelReady: unary('ModelReady', async (req, exchange) => {
      const version = versionOf(req.version);
      const model = resolveModel(ctx, exchange, req.name, version);
      if (!model) return;
      await modelReady(ctx, model, version).then(
        (ready) => exchange.reply({ ready }),
        () => exchange.error('NOT_READY', 'Redis is unreachable.'),
      );
    }),
    ModelInfer: unary('ModelInfer', async (req, exchange, call) => {
      if (ctx.isDraining()) return void exchange.error('SHUTTING_DOWN');
      const model = resolveModel(ctx, exchange, req.model_name, versionOf(req.model_version));
      if (!model) return;
      const target = resolveTarget(ctx, exchange, model, versionOf(req.model_version));
      if (!target) return;
      const parsed = parseModelInfer(req, tensorModel(model), ctx.config.MAX_IMAGES_PER_REQUEST);
      if (!parsed.ok) return void exchange.error(parsed.code, parsed.message);
      const log = lazyChild(ctx.log, { reqId: exchange.id, model: model.name });
      const done = await runInference(ctx, exchange, target, parsed.request, log, deadlineMs(call));
      if (!done) return;
      const answer = modelInferResponse(model.name, String(target.version), req.id, done.tensor);
      exchange.reply(answer, { elements: parsed.request.items.length, batchSizes: done.batchSizes });
    }),
  };
}
