/**
 * What every gRPC call gets before its handler runs, and when it ends (a grpc-js server interceptor):
 * - its GrpcExchange: request id (the client's x-request-id when acceptable), returned as x-request-id with
 *   x-served-by (which front end answered) in the headers, or in the trailers of an error;
 * - the API key of the RPCs that name models, checked from the metadata before the message is read (as REST checks
 *   the header before reading the body);
 * - ModelInfer's message must arrive within BODY_TIMEOUT_MS of the call's start;
 * - one access line and metric at its end, whatever ended it: our answer, grpc-js (a message over the limit, the
 *   client's deadline), or the client going away.
 */
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type StatusObject,
} from '@grpc/grpc-js';
import type { Config } from '../config/config.ts';
import type { Guard } from '../auth/guard.ts';
import type { Route } from '../http/route-labels.ts';
import type { Access } from '../http/access.ts';
import { checkKey } from '../frontend/authorize.ts';
import { SERVED_BY } from '../http/respond.ts';
import type { RpcName } from '../wire/open-inference-grpc.ts';
import { GrpcExchange } from './grpc-exchange.ts';
import type { Span, Tracer } from '../observability/tracer.ts';

export interface InterceptorContext extends Access {
  config: Config;
  inferenceGuard?: Guard;
  /** The same keys on ModelMetadata and ModelReady, with the metadata rate limit. */
  metadataGuard?: Guard;
  /** Present when tracing is on: ModelInfer gets a server span continuing the caller's traceparent metadata. */
  tracer?: Tracer | undefined;
}

/** Each RPC counts under the REST route of the same operation, so one query covers both protocols. */
const ROUTES: Record<RpcName, Route> = {
  ServerLive: '/v2/health',
  ServerReady: '/v2/health',
  ModelReady: '/v2/health',
  ServerMetadata: '/v2',
  ModelMetadata: '/v2/models',
  ModelInfer: '/v2/infer',
};
/** The RPCs that name models need a key when API keys are on (as their REST routes); health and server metadata do not. */
const GUARDED: ReadonlySet<string> = new Set<RpcName>(['ModelReady', 'ModelMetadata', 'ModelInfer']);

const exchanges = new WeakMap<Metadata, GrpcExchange>();

/** The exchange of the call whose metadata this is (the handler's call.metadata is the object the interceptor saw). */
export function exchangeOf(metadata: Metadata): GrpcExchange {
  const exchange = exchanges.get(metadata);
  if (!exchange) throw new Error('gRPC call without its exchange: the call interceptor is not installed');
  return exchange;
}

const first = (metadata: Metadata, key: string): string | undefined => {
  const v = metadata.get(key)[0];
  return typeof v === 'string' ? v : undefined;
};

type Status = Pick<StatusObject, 'code' | 'details'> & { metadata?: Metadata | null };

export function callInterceptor(ctx: InterceptorContext): ServerInterceptor {
  return (method, call: ServerInterceptingCallInterface) => {
    const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
    let intercepting: ServerInterceptingCall | undefined;
    const exchange = new GrpcExchange(rpc, ROUTES[rpc as RpcName] ?? 'other', ctx, (s) => intercepting?.sendStatus(s));
    let bodyTimer: NodeJS.Timeout | undefined;
    const stamp = (metadata: Metadata) => {
      metadata.set('x-request-id', exchange.id);
      metadata.set('x-served-by', SERVED_BY);
      return metadata;
    };
    // Every status ends here, ours and those grpc-js sends by itself (it calls its own sendStatus for them).
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (sent: Status) => {
      clearTimeout(bodyTimer);
      const status = exchange.ownStatus(sent, ctx.config.BODY_LIMIT_BYTES);
      exchange.finished(status);
      sendStatus({ ...status, metadata: stamp(status.metadata ?? new Metadata()) });
    };
    intercepting = new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, proceed) => {
            exchange.adoptRequestId(first(metadata, 'x-request-id'));
            if (ctx.tracer && rpc === 'ModelInfer') exchange.span = startRpcSpan(ctx.tracer, metadata);
            exchanges.set(metadata, exchange);
            const guard = rpc === 'ModelInfer' ? ctx.inferenceGuard : ctx.metadataGuard;
            if (GUARDED.has(rpc) && !checkKey(guard, first(metadata, 'authorization'), exchange)) return;
            if (rpc === 'ModelInfer') {
              const ms = ctx.config.BODY_TIMEOUT_MS;
              bodyTimer = setTimeout(
                () => exchange.error('BODY_TIMEOUT', `The request message did not arrive within ${ms} ms.`),
                ms,
              );
            }
            proceed(metadata);
          },
          onReceiveMessage: (message, proceed) => {
            clearTimeout(bodyTimer);
            proceed(message);
          },
          onCancel: () => {
            clearTimeout(bodyTimer);
            exchange.cancelled();
          },
        }),
      sendMetadata: (metadata, proceed) => proceed(stamp(metadata)),
    });
    return intercepting;
  };
}

/** ModelInfer's server span, under the caller's W3C trace context (gRPC carries it as `traceparent` metadata). */
function startRpcSpan(tracer: Tracer, metadata: Metadata): Span {
  const incoming = { traceparent: first(metadata, 'traceparent'), tracestate: first(metadata, 'tracestate') };
  const attributes = {
    'rpc.system': 'grpc',
    'rpc.service': 'inference.GRPCInferenceService',
    'rpc.method': 'ModelInfer',
  };
  return tracer.start('inference.GRPCInferenceService/ModelInfer', incoming, attributes, 'server');
}
