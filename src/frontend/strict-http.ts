/**
 * The HTTP rules every route shares, applied once around whichever server runs (http/types.ts):
 * - Request framing two parties could read differently (RFC 9112 §6.3) is refused before any handler runs, so
 *   no proxy in front can be desynchronised: 400 and close on node:http; on uWS, which reads the first of two
 *   Content-Length headers and goes on parsing the rest as a second request, the connection is cut at once.
 * - A repeated Host header gets 400 and close on both (RFC 9112 §3.2).
 * - HEAD is served by the GET route of the same path (the servers send no body on any HEAD answer).
 */
import { routeOf } from '../http/route-labels.ts';
import { requestId, writeAccessLine, type Access } from '../http/access.ts';
import type { Handler, HttpServer, RouteMethod } from '../http/types.ts';
import { Answer } from '../http/respond.ts';

/** Why a request's framing is ambiguous, or undefined when it is not. Repeated headers arrive joined by ', '. */
export function framingProblem(headers: Readonly<Record<string, string>>): string | undefined {
  const length = headers['content-length'];
  const coding = headers['transfer-encoding'];
  if (length !== undefined && coding !== undefined) return 'Content-Length together with Transfer-Encoding.';
  // RFC 9112 §6.3: a request whose last coding is not chunked has no knowable length; any other list is a trick.
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked')
    return 'Transfer-Encoding other than "chunked" alone.';
  if (length !== undefined && !/^\d{1,15}$/.test(length)) return 'Content-Length repeated or not a number.';
  return undefined;
}

/** A request line or header the route must not see (RFC 9112 §3.2: one Host), answered 400 by both servers. */
export function headerProblem(headers: Readonly<Record<string, string>>): string | undefined {
  if (headers.host?.includes(',')) return 'Host repeated.';
  return undefined;
}

/** `http` with every route guarded as above; route through the result only. */
export function strictHttp(http: HttpServer, access: Access): HttpServer {
  const guard =
    (pattern: string, handler: Handler): Handler =>
    (req, res) => {
      const framing = framingProblem(req.headers);
      const problem = framing ?? headerProblem(req.headers);
      if (problem === undefined) return handler(req, res);
      const route = routeOf(pattern);
      if (framing !== undefined && http.kind === 'uws') {
        // uWS goes on parsing this connection's bytes after any answer: only cutting it stops a smuggled request.
        // (node:http's parser answers these 400 itself.)
        res.destroy();
        const entry = {
          route,
          method: req.method,
          reqId: requestId(req.headers['x-request-id']),
          startedAt: Date.now(),
        };
        writeAccessLine(access, entry, 400, {
          code: 'BAD_REQUEST',
          detail: problem,
          connection: 'closed without an answer',
        });
        return;
      }
      const answer = new Answer(res, req, route, access);
      answer.closeConnection = true;
      answer.error('BAD_REQUEST', problem);
    };
  return {
    kind: http.kind,
    detail: http.detail,
    route(method: RouteMethod, pattern: string, handler: Handler) {
      http.route(method, pattern, guard(pattern, handler));
      if (method === 'GET') http.route('HEAD', pattern, guard(pattern, handler));
    },
    listen: (host, port) => http.listen(host, port),
    stopAccepting: () => http.stopAccepting(),
    closeConnectionsAfterResponse: () => http.closeConnectionsAfterResponse(),
    closeAll: () => http.closeAll(),
  };
}
