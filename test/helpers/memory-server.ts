/**
 * The HTTP seam in memory, for unit tests of routes and handlers (like fastify's inject()): no socket, no port.
 * It is a third implementation of src/http/types.ts built from the real parts both servers share (Router,
 * ResponseState, collectBody), so a handler sees what it would see behind uWS or node:http.
 */
import { collectBody } from '../../src/http/read-body.ts';
import { ResponseState } from '../../src/http/response-state.ts';
import { Router } from '../../src/http/router.ts';
import type {
  BodyLimits,
  Handler,
  HttpServer,
  IncomingRequest,
  RouteMethod,
  ServerResponse,
} from '../../src/http/types.ts';

export interface InjectOptions {
  method?: string;
  /** Path and query, e.g. `/predict?topk=3`. */
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The body never finishes arriving (for BODY_TIMEOUT). */
  stallBody?: boolean;
}

export interface InjectedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The answer asked the client to reconnect for its next request. */
  closeConnection: boolean;
  text(): string;
  json<T = Record<string, unknown>>(): T;
}

/** An injected request still in flight: its answer (undefined once cut or aborted), and the client's way out. */
export interface InjectedRequest {
  response: Promise<InjectedResponse | undefined>;
  /** The client goes away now. */
  abort(): void;
  readonly res: ServerResponse;
}

class MemoryResponse extends ResponseState implements ServerResponse {
  private bodyListener: ((chunk: Uint8Array, isLast: boolean) => void) | undefined;
  constructor(
    private readonly opts: InjectOptions,
    private readonly settle: (answer: InjectedResponse | undefined) => void,
  ) {
    super();
  }

  readBody(limits: BodyLimits): Promise<Buffer> {
    const read = collectBody(
      { onChunk: (listener) => (this.bodyListener = listener), onAbort: (listener) => this.onAbort(listener) },
      limits,
    );
    // As from a socket: the bytes arrive after the handler has returned.
    setImmediate(() => {
      const body = this.opts.body ?? '';
      this.bodyListener?.(typeof body === 'string' ? Buffer.from(body) : body, !this.opts.stallBody);
    });
    return read;
  }

  send(status: number, headers: Readonly<Record<string, string>>, body: string | Buffer, close: boolean): boolean {
    if (!this.claimAnswer()) return false;
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.settle({
      status,
      headers: { ...lower, 'content-length': String(bytes.length) },
      body: bytes,
      closeConnection: close,
      text: () => bytes.toString('utf8'),
      json: () => JSON.parse(bytes.toString('utf8')),
    });
    return true;
  }

  destroy(): void {
    if (this.claimAnswer()) this.settle(undefined);
  }

  abort(): void {
    if (this.aborted || this.answered) return;
    this.markAborted();
    this.settle(undefined);
  }
}

export class MemoryServer implements HttpServer {
  /** Stands in for node:http: the kind only matters to what /readyz and /v1/models report. */
  readonly kind = 'node' as const;
  readonly detail = 'in-memory (tests)';
  private readonly router = new Router();

  route(method: RouteMethod, pattern: string, handler: Handler): void {
    this.router.add(method, pattern, handler);
  }

  /** Sends one request; resolves with its answer (undefined if the handler cut the connection). */
  inject(opts: InjectOptions): Promise<InjectedResponse | undefined> {
    return this.open(opts).response;
  }

  /** Sends one request and hands back the way to abort it, for client-gone paths. */
  open(opts: InjectOptions): InjectedRequest {
    let settle!: (answer: InjectedResponse | undefined) => void;
    const response = new Promise<InjectedResponse | undefined>((resolve) => (settle = resolve));
    const res = new MemoryResponse(opts, settle);
    const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
    const [path = '/', query = ''] = opts.url.split(/\?(.*)/s, 2);
    const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    // A stalled body is honestly short of its declared length.
    if (opts.body !== undefined && headers['content-length'] === undefined)
      headers['content-length'] = String(Buffer.byteLength(opts.body) + (opts.stallBody ? 1 : 0));
    const found = this.router.match(method, path);
    const req: IncomingRequest = { method, path, query, headers, params: found?.params ?? {} };
    if (found) found.handler(req, res);
    else res.send(404, {}, '', false);
    return { response, abort: () => res.abort(), res };
  }

  listen(): Promise<number> {
    return Promise.resolve(0);
  }
  stopAccepting(): void {}
  closeConnectionsAfterResponse(): void {}
  closeAll(): void {}
}
