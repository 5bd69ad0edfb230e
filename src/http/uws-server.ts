/**
 * The HTTP seam on uWebSockets.js. Per request: the request is copied into a snapshot while uWS's object is
 * valid, onAborted is registered before anything else, every write is corked, and nothing touches `res` after
 * an abort or the answer.
 */
import { STATUS_CODES } from 'node:http';
import { collectBody } from './read-body.ts';
import { ResponseState } from './response-state.ts';
import { compilePattern } from './router.ts';
import type { BodyLimits, Handler, HttpServer, IncomingRequest, RouteMethod, ServerResponse } from './types.ts';
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
  /** `head`: a HEAD request, answered with its headers (Content-Length included) and no body. */
  constructor(
    private readonly res: HttpResponse,
    private readonly server: UwsServer,
    private readonly head: boolean,
  ) {
    super();
    res.onAborted(() => {
      this.markAborted();
    });
  }

  readBody(limits: BodyLimits): Promise<Buffer> {
    return collectBody(
      {
        onChunk: (listener) => this.res.onData((chunk, isLast) => listener(new Uint8Array(chunk), isLast)),
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
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status));
      for (const name in headers) res.writeHeader(name, headers[name]!);
      const close = closeConnection || this.server.closeEveryConnection;
      if (this.head) {
        // This build's endWithoutBody cuts the connection when given any argument: the length goes in by hand.
        res.writeHeader('Content-Length', String(Buffer.byteLength(body)));
        if (close) res.writeHeader('Connection', 'close');
        res.endWithoutBody();
      } else {
        res.end(body, close);
      }
    });
    return true;
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

  constructor(private readonly loaded: LoadedUws) {
    this.detail = loaded.binary;
    this.app = loaded.uws.App();
  }

  route(method: RouteMethod, pattern: string, handler: Handler): void {
    const { paramNames } = compilePattern(pattern);
    this.app[ROUTE_METHOD[method]](pattern, (res, req) => {
      // The response wrapper first: it registers onAborted before anything else can run.
      const response = new UwsResponse(res, this, req.getCaseSensitiveMethod() === 'HEAD');
      handler(snapshot(req, paramNames), response);
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

export function createUwsServer(loaded: LoadedUws): HttpServer {
  return new UwsServer(loaded);
}

/** Node's table of reason phrases, so every status in the error registry (401, 403, 422, ...) has its phrase. */
function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
}
