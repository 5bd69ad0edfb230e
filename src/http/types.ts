/**
 * The HTTP seam: what the front end needs from an HTTP server, and nothing more. Two implementations exist,
 * uWebSockets.js (uws-server.ts, the default wherever its native binary loads) and Node's own http module
 * (node-server.ts, HTTP_SERVER=node); select.ts picks one. Routes and handlers only ever see these types.
 *
 * Contract for a handler `(req, res) => void`:
 * - `req` is a snapshot taken on arrival: it stays valid after awaits (unlike uWS's own request object).
 * - `res` may be answered once, at any time, from anywhere: `send` writes nothing (and returns false) once the
 *   client has gone or the request was answered already.
 * - Abort listeners run once when the client goes away before the answer; any number may be added.
 * - `readBody` must be called before the handler returns: uWS hands body bytes only to a reader registered by then.
 */
import type { BodyPool } from './body-pool.ts';
import type { ErrorCode } from '../wire/errors.ts';

export type HttpServerKind = 'uws' | 'node';

/** Route methods; ANY matches every method, after any route registered for the request's own method. */
export type RouteMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS' | 'ANY';

export interface IncomingRequest {
  /** As sent (standard methods are upper-case). */
  readonly method: string;
  /** The path without the query string, not decoded. */
  readonly path: string;
  /** The raw query string without `?` ('' when none). */
  readonly query: string;
  /** Lower-case header names; a header sent more than once is joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  /** Values of the route pattern's `:name` segments. */
  readonly params: Readonly<Record<string, string>>;
}

export interface BodyLimits {
  /** The Content-Length, when the request declared one (already validated by the caller). */
  declaredLength?: number;
  /** Largest body accepted; crossing it rejects with BODY_TOO_LARGE at once. */
  limit: number;
  /** The whole body must have arrived by then, else BODY_TIMEOUT. */
  timeoutMs: number;
  /** Where the body's buffer comes from (and goes back to, by the caller); else a new one. */
  pool?: BodyPool;
}

/** Why a body was not read: too large, too slow, or the client went away while sending it. */
export class BodyError extends Error {
  constructor(readonly code: Extract<ErrorCode, 'BODY_TOO_LARGE' | 'BODY_TIMEOUT'> | 'CLIENT_GONE') {
    super(code);
  }
}

export interface ServerResponse {
  /** The client went away before the answer. */
  readonly aborted: boolean;
  /** The answer has been written. */
  readonly answered: boolean;
  /** Runs `listener` once if the client goes away before the answer (at once if it already has). */
  onAbort(listener: () => void): void;
  /** Reads the whole request body within its limits into one buffer. */
  readBody(limits: BodyLimits): Promise<Buffer>;
  /**
   * Writes the whole answer (corked where the server supports it). `closeConnection` asks the client to
   * reconnect for its next request. Returns false, writing nothing, if aborted or answered already.
   */
  send(
    status: number,
    headers: Readonly<Record<string, string>>,
    body: string | Buffer,
    closeConnection: boolean,
  ): boolean;
  /**
   * Cuts the connection at once, writing nothing: for a request whose framing is ambiguous when the server would
   * still parse what follows it on the connection (uWS), where even a 400 would let a smuggled request through.
   */
  destroy(): void;
}

/** A handler may be async: the server catches what it throws or its promise rejects (run-handler.ts). */
export type Handler = (req: IncomingRequest, res: ServerResponse) => void;

/** A handler threw or rejected: answer (500) and log. `pattern` is the route's. */
export type HandlerErrorListener = (err: unknown, req: IncomingRequest, res: ServerResponse, pattern: string) => void;

/** After an answer that closes the connection while the client is still sending its body (linger.ts). */
export interface LingerLimits {
  /** Body bytes read and discarded after the answer, at most; beyond them the connection is cut. */
  maxBytes: number;
  /** Time allowed for the rest of the body after the answer; then the connection is cut. */
  timeoutMs: number;
  /** The client is taken to have stopped sending once no byte arrived for this long (nginx's lingering_timeout). */
  idleMs: number;
}

export interface HttpServerOptions {
  linger: LingerLimits;
  onHandlerError: HandlerErrorListener;
  /** node:http only: the request line and headers must have arrived by then (Node's own default is 60 s). */
  headersTimeoutMs?: number;
}

export interface HttpServer {
  readonly kind: HttpServerKind;
  /** What serves, for /readyz, /v1/models and the start-up log: the uWS binary, or Node's version. */
  readonly detail: string;
  /** Patterns: exact paths, `:name` segments, and a trailing `/*`. Exact beats `:name` beats `/*`. */
  route(method: RouteMethod, pattern: string, handler: Handler): void;
  /** Starts listening; resolves with the port (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting connections; open connections keep being served. Idempotent. */
  stopAccepting(): void;
  /** From now on every answer closes its connection, so keep-alive peers let go one request at a time. */
  closeConnectionsAfterResponse(): void;
  /** Closes every connection still open. Idempotent; call after the in-flight requests were answered. */
  closeAll(): void;
}
