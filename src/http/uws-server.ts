/**
 * The HTTP seam on uWebSockets.js. Per request: the request is copied into a snapshot while uWS's object is
 * valid, onAborted is registered before anything else, every write is corked, and nothing touches `res` after
 * an abort or the answer.
 */
import { STATUS_CODES } from 'node:http';
import { collectBody } from './read-body.ts';
import { announcesBody, Linger } from './linger.ts';
import { ResponseState } from './response-state.ts';
import { compilePattern } from './router.ts';
import { runHandler } from './run-handler.ts';
import type {
  BodyLimits,
  Handler,
  HandlerErrorListener,
  HttpServer,
  HttpServerOptions,
  IncomingRequest,
  LingerLimits,
  RouteMethod,
  ServerResponse,
} from './types.ts';
import type { LoadedUws, UwsApp, UwsListenSocket, UwsRequest, UwsResponse as HttpResponse } from './uws-binary.ts';

const ROUTE_METHOD = {
  GET: 'get',
  POST: 'post',
  PUT: 'put',
  DELETE: 'del',
  PATCH: 'patch',
  HEAD: 'head',
  OPTIONS: 'options',
  ANY: 'any',
} as const satisfies Record<RouteMethod, keyof UwsApp>;

class UwsResponse extends ResponseState implements ServerResponse {
  /** The body's reader (readBody), if any. */
  private reader: ((chunk: Uint8Array, isLast: boolean) => void) | undefined;
  /** The body has arrived to its end (or there is none). */
  private bodyDone: boolean;
  private linger: Linger | undefined;

  /** `head`: a HEAD request, answered with its headers (Content-Length included) and no body. */
  constructor(
    private readonly res: HttpResponse,
    private readonly server: UwsServer,
    private readonly head: boolean,
    bodyAnnounced: boolean,
  ) {
    super();
    res.onAborted(() => {
      this.linger?.stop();
      this.markAborted();
    });
    this.bodyDone = !bodyAnnounced;
    // Registered now, whoever reads: uWS hands a body only to a reader registered in the handler, and an early
    // answer must still see the rest of the body arrive (linger).
    if (bodyAnnounced) {
      res.onData((chunk, isLast) => {
        if (isLast) this.bodyDone = true;
        this.reader?.(new Uint8Array(chunk), isLast);
        this.linger?.chunk(chunk.byteLength, isLast);
      });
    }
  }

  readBody(limits: BodyLimits): Promise<Buffer> {
    return collectBody(
      {
        onChunk: (listener) => {
          if (this.bodyDone) listener(new Uint8Array(0), true);
          else this.reader = listener;
        },
        onAbort: (listener) => this.onAbort(listener),
      },
      limits,
    );
  }

  destroy(): void {
    if (!this.claimAnswer()) return;
    this.res.close();
  }

  send(...[status, headers, body, closeConnection]: Parameters<ServerResponse['send']>): boolean {
    if (!this.claimAnswer()) return false;
    const close = closeConnection || this.server.closeEveryConnection;
    if (close && !this.bodyDone && !this.head) {
      // uWS's end(body, true) closes at once, resetting a body still arriving, and `res` is gone after any end
      // (so no close later): the rest of the body is read and discarded first, within bounds, then the answer.
      this.reader = undefined;
      this.linger = new Linger(this.server.linger, () => {
        if (!this.aborted) this.write(status, headers, body, true);
      });
    } else {
      this.write(status, headers, body, close);
    }
    return true;
  }

  private write(status: number, headers: Readonly<Record<string, string>>, body: string | Buffer, close: boolean) {
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status));
      for (const name in headers) res.writeHeader(name, headers[name]!);
      if (this.head) {
        // This build's endWithoutBody cuts the connection when given any argument: the length goes in by hand.
        res.writeHeader('Content-Length', String(Buffer.byteLength(body)));
        if (close) res.writeHeader('Connection', 'close');
        res.endWithoutBody();
      } else {
        res.end(body, close);
      }
    });
  }
}

function snapshot(req: UwsRequest, paramNames: readonly string[]): IncomingRequest {
  const headers: Record<string, string> = {};
  req.forEach((name, value) => {
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  });
  const params: Record<string, string> = {};
  paramNames.forEach((name, i) => {
    params[name] = req.getParameter(i) ?? '';
  });
  return { method: req.getCaseSensitiveMethod(), path: req.getUrl(), query: req.getQuery() ?? '', headers, params };
}

class UwsServer implements HttpServer {
  readonly kind = 'uws';
  readonly detail: string;
  closeEveryConnection = false;
  private readonly app: UwsApp;
  private listenSocket: UwsListenSocket | undefined;
  readonly linger: LingerLimits;
  private readonly onHandlerError: HandlerErrorListener;

  constructor(
    private readonly loaded: LoadedUws,
    { linger, onHandlerError }: HttpServerOptions,
  ) {
    this.linger = linger;
    this.onHandlerError = onHandlerError;
    this.detail = loaded.binary;
    this.app = loaded.uws.App();
  }

  route(method: RouteMethod, pattern: string, handler: Handler): void {
    const { paramNames } = compilePattern(pattern);
    this.app[ROUTE_METHOD[method]](pattern, (res, req) => {
      // uWS's request is valid only now; the response wrapper registers onAborted before anything can run.
      const request = snapshot(req, paramNames);
      const response = new UwsResponse(res, this, request.method === 'HEAD', announcesBody(request.headers));
      runHandler(handler, pattern, request, response, this.onHandlerError);
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${host}:${port}`));
        this.listenSocket = socket;
        resolve(this.loaded.uws.us_socket_local_port(socket));
      });
    });
  }

  stopAccepting(): void {
    if (this.listenSocket) this.loaded.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }

  closeConnectionsAfterResponse(): void {
    this.closeEveryConnection = true;
  }

  closeAll(): void {
    this.stopAccepting();
    // Keep-alive connections still open are closed by uWS's idle timeout; every answer already asked to close.
  }
}

export function createUwsServer(loaded: LoadedUws, options: HttpServerOptions): HttpServer {
  return new UwsServer(loaded, options);
}

/** Node's table of reason phrases, so every status in the error registry (401, 403, 422, ...) has its phrase. */
function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
}
