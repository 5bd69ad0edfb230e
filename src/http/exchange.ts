/**
 * One request as the protocol-neutral request path sees it, whichever protocol carried it: REST's Answer
 * (respond.ts) and gRPC's GrpcExchange (src/grpc/grpc-exchange.ts). The shared path annotates the access line,
 * names the API key, answers errors from the registry (errors.ts), and learns when the client goes away.
 */
import type { ErrorCode } from '../wire/errors.ts';
import type { Span } from '../observability/tracer.ts';

export type Fields = Record<string, unknown>;

export interface Exchange {
  /** The request id: the client's X-Request-Id (or x-request-id metadata) when acceptable, else a fresh one. */
  readonly id: string;
  /** Epoch ms of its arrival: deadlines count from here. */
  readonly startedAt: number;
  /** Adds fields to this request's access line, whichever way it ends. */
  annotate(fields: Fields): void;
  /** Names the API key the request presented in its access line and metrics. */
  setKeyName(name: string): void;
  /** Answers with the registry's status for `code`; `fields` go to the access line, `headers` with the answer. */
  error(code: ErrorCode, message?: string, fields?: Fields, headers?: Record<string, string>): boolean;
  /** Runs `listener` once if the client goes away before the answer. */
  onAbort(listener: () => void): void;
  /** The request's server span, when tracing is on: its context travels to the model host. */
  readonly span?: Span | undefined;
}
