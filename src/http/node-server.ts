/**
 * The HTTP seam on Node's own http module (HTTP_SERVER=node): for a Node on which no uWS binary loads. Same
 * routes, same answers; slower per request (BENCHMARKS.md has the price). Malformed HTTP is answered with the
 * JSON error shape and the connection closed.
 */
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse as NodeResponse,
} from 'node:http';
import { type ListenOptions, Server as NetServer, Socket } from 'node:net';
import { errorBody, errorCodes } from '../wire/errors.ts';
import { collectBody } from './read-body.ts';
import { announcesBody, Linger } from './linger.ts';
import { ResponseState } from './response-state.ts';
import { Router } from './router.ts';
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

class NodeServerResponse extends ResponseState implements ServerResponse {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: NodeResponse,
    private readonly server: NodeHttpServer,
    private readonly bodyAnnounced: boolean,
  ) {
    super();
    // 'close' before 'finish': the connection went away before the answer was written out.
    res.once('close', () => {
      if (res.writableFinished) return;
      this.markAborted();
    });
  }

  readBody(limits: BodyLimits): Promise<Buffer> {
    const req = this.req;
    // The client waits for this before sending its body; a request refused unread never gets it (as nginx does).
    if (req.headers.expect?.toLowerCase() === '100-continue') this.res.writeContinue();
    return collectBody(
      {
        onChunk: (listener) => {
          req.on('data', (chunk: Buffer) => listener(chunk, false));
          req.once('end', () => listener(new Uint8Array(0), true));
        },
        onAbort: (listener) => this.onAbort(listener),
      },
      limits,
    );
  }

  destroy(): void {
    if (!this.claimAnswer()) return;
    this.req.socket.destroy();
  }

  send(...[status, headers, body, closeConnection]: Parameters<ServerResponse['send']>): boolean {
    if (!this.claimAnswer()) return false;
    const all: Record<string, string | number> = { ...headers, 'Content-Length': Buffer.byteLength(body) };
    // Node closes the connection after an answer that says so.
    if (closeConnection || this.server.closeEveryConnection) {
      all.Connection = 'close';
      if (this.bodyAnnounced && !this.req.complete) this.lingerAfterAnswer(this.server.linger);
    }
    this.res.writeHead(status, all).end(body);
    return true;
  }

  /** Node ends a closing answer with socket.destroySoon(), which resets a body still arriving: linger instead. */
  private lingerAfterAnswer(limits: LingerLimits): void {
    const { req } = this;
    const socket = req.socket;
    let linger: Linger | undefined;
    // A listener also keeps Node from dumping the body, which would hide its bytes from the count.
    req.on('data', (chunk: Buffer) => linger?.chunk(chunk.byteLength, false));
    req.once('end', () => linger?.chunk(0, true));
    socket.destroySoon = () => {
      if (req.complete || socket.destroyed) return Socket.prototype.destroySoon.call(socket);
      socket.end();
      linger = new Linger(limits, () => socket.destroy());
      socket.once('close', () => linger?.stop());
    };
  }
}

/** An absolute-form target (`http://host/path?q`, RFC 9112 §3.2.2) as the origin form (`/path?q`) routes match. */
function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  const scheme = /^https?:\/\/[^/?#]*/i.exec(target);
  if (!scheme) return target;
  const rest = target.slice(scheme[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** A request Node could not parse: the JSON error shape, then the connection closes. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Headers not in by BODY_TIMEOUT_MS (headersTimeout) are a timeout; anything else is malformed.
  const code = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'BODY_TIMEOUT' : 'BAD_REQUEST';
  const { status } = errorCodes[code];
  const body = JSON.stringify(errorBody(code));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}

class NodeHttpServer implements HttpServer {
  readonly kind = 'node';
  readonly detail = `node:http (Node ${process.version})`;
  closeEveryConnection = false;
  private readonly router = new Router();
  private readonly server: Server;
  private accepting = false;
  readonly linger: LingerLimits;
  private readonly onHandlerError: HandlerErrorListener;

  constructor({ headersTimeoutMs, linger, onHandlerError }: HttpServerOptions) {
    this.linger = linger;
    this.onHandlerError = onHandlerError;
    // Bodies are timed by BODY_TIMEOUT_MS (read-body.ts), so Node's own whole-request timeout is off.
    const timeouts = {
      requestTimeout: 0,
      connectionsCheckingInterval: 1000,
      // A missing Host is answered in dispatch, with the JSON error shape.
      requireHostHeader: false,
      ...(headersTimeoutMs ? { headersTimeout: headersTimeoutMs } : {}),
    };
    this.server = createServer(timeouts, (req, res) => this.dispatch(req, res));
    this.server.on('clientError', answerClientError);
    // Expect: 100-continue is answered when the body is read (readBody), not before the route has looked.
    this.server.on('checkContinue', (req, res) => this.dispatch(req, res));
  }

  private dispatch(req: IncomingMessage, res: NodeResponse): void {
    const url = originForm(req.url ?? '/');
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const found = this.router.match(method, path);
    const headers: Record<string, string> = {};
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      headers[name] = name in headers ? `${headers[name]}, ${raw[i + 1]}` : raw[i + 1]!;
    }
    const request: IncomingRequest = {
      method,
      path,
      query: q < 0 ? '' : url.slice(q + 1),
      headers,
      params: found?.params ?? {},
    };
    const response = new NodeServerResponse(req, res, this, announcesBody(headers));
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400 (Node's own 400 has no body: ours is JSON).
    if (req.httpVersion === '1.1' && headers.host === undefined) {
      const body = JSON.stringify(errorBody('BAD_REQUEST', 'An HTTP/1.1 request needs a Host header.'));
      response.send(400, { 'Content-Type': 'application/json' }, body, true);
    } else if (found) found.handler(request, response);
    else response.send(404, { 'Content-Type': 'application/json' }, JSON.stringify(errorBody('NOT_FOUND')), false);
  }

  route(method: RouteMethod, pattern: string, handler: Handler): void {
    this.router.add(method, pattern, (req, res) => runHandler(handler, pattern, req, res, this.onHandlerError));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      this.server.once('error', onError);
      // reusePort (Node >= 22.12): several front-end processes on one port, as uWS does; older Nodes ignore it.
      this.server.listen({ host, port, reusePort: true } as ListenOptions, () => {
        this.server.off('error', onError);
        this.accepting = true;
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  stopAccepting(): void {
    if (!this.accepting) return;
    this.accepting = false;
    // net.Server's close only stops listening; http.Server's would also drop idle keep-alive connections, on
    // which a proxy may be sending a request right now. Those get an answer that closes them instead.
    NetServer.prototype.close.call(this.server);
  }

  closeConnectionsAfterResponse(): void {
    this.closeEveryConnection = true;
  }

  closeAll(): void {
    this.stopAccepting();
    this.server.close();
    this.server.closeAllConnections();
  }
}

export function createNodeServer(options: HttpServerOptions): HttpServer {
  return new NodeHttpServer(options);
}
