/**
 * The front end's gRPC server: the Open Inference Protocol's GRPCInferenceService (h2c, plaintext HTTP/2) on
 * HOST:GRPC_PORT + FRONTEND_INDEX, beside the HTTP server, sharing its request path, Redis connections, pending
 * requests and metrics. A message larger than BODY_LIMIT_BYTES is refused by grpc-js from its length prefix,
 * before it is buffered (RESOURCE_EXHAUSTED).
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { inferenceService } from '../wire/open-inference-grpc.ts';
import { callInterceptor, type InterceptorContext } from './call-interceptor.ts';
import { grpcHandlers, type GrpcContext } from './handlers.ts';

/** How long a closing server waits for its connections to go before cutting them. */
const SHUTDOWN_WAIT_MS = 2000;

export interface GrpcFrontend {
  readonly port: number;
  /** Stops listening and asks every client (GOAWAY) to open its next calls elsewhere; calls in progress go on. */
  stopAccepting(graceMs: number): void;
  /** Closes every connection: gracefully, then by force after SHUTDOWN_WAIT_MS. Idempotent. */
  close(): Promise<void>;
}

/** HOST as grpc-js wants it in an address: IPv6 in brackets. */
const addressOf = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** Listens when GRPC_PORT is not `off`; rejects, naming the setting, when the port cannot be bound. */
export async function startGrpcServer(ctx: GrpcContext & InterceptorContext): Promise<GrpcFrontend | undefined> {
  const { GRPC_PORT, FRONTEND_INDEX, HOST, BODY_LIMIT_BYTES, GRPC_MAX_CONCURRENT_STREAMS } = ctx.config;
  if (GRPC_PORT === 'off') return undefined;
  const server = new Server({
    interceptors: [callInterceptor(ctx)],
    'grpc.max_receive_message_length': BODY_LIMIT_BYTES,
    'grpc.max_concurrent_streams': GRPC_MAX_CONCURRENT_STREAMS,
  });
  server.addService(inferenceService, grpcHandlers(ctx));
  const wanted = GRPC_PORT === 0 ? 0 : GRPC_PORT + FRONTEND_INDEX;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(addressOf(HOST, wanted), ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
  } catch (err) {
    server.forceShutdown();
    throw new Error(
      `gRPC: cannot listen on ${addressOf(HOST, wanted)} (GRPC_PORT=${GRPC_PORT}, FRONTEND_INDEX=${FRONTEND_INDEX}; GRPC_PORT=off disables gRPC): ${(err as Error).message}`,
    );
  }
  const address = addressOf(HOST, port);
  let closing: Promise<void> | undefined;
  return {
    port,
    stopAccepting(graceMs) {
      server.unbind(address);
      server.drain(address, graceMs);
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_WAIT_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      })),
  };
}
