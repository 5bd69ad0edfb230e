/**
 * Writing responses with uWS: each response is corked (one syscall), written at most once, and never after the
 * client has gone. RequestState is the typed per-request flag set that makes that checkable.
 */
import { hostname } from 'node:os';
import type { HttpResponse } from 'uWebSockets.js';
import { errorBody, errorCodes, type ErrorCode } from '../wire/errors.ts';

/**
 * X-Served-By: which front-end process answered (host-pid, the start of its frontend id and its logs' pid), so
 * that spreading over several front ends on one port is observable. nginx logs it and hides it from clients.
 */
const SERVED_BY = `${hostname()}-${process.pid}`;

/**
 * Set when a front end starts closing: every later response also closes its connection, so that keep-alive
 * peers (nginx's upstream pool) let go of this process one request at a time instead of meeting a refusal.
 * Process-wide: production runs one front end per process.
 */
let closeEveryConnection = false;
export function closeConnectionsAfterResponse(): void {
  closeEveryConnection = true;
}

export interface RequestState {
  id: string;
  startedAt: number;
  aborted: boolean;
  answered: boolean;
  /** Releases what the request holds (body timer, pending entry) when the client goes away. */
  onAbort?: () => void;
  /** Set by the server while draining: responses ask the client to reconnect elsewhere. */
  closeConnection?: boolean;
}

export type Headers = Record<string, string>;

/** Returns false (and writes nothing) if the request was aborted or already answered. */
export function sendJson(res: HttpResponse, state: RequestState, status: number, body: unknown, headers: Headers = {}): boolean {
  if (state.aborted || state.answered) return false;
  state.answered = true;
  const payload = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json').writeHeader('X-Request-Id', state.id).writeHeader('X-Served-By', SERVED_BY);
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(payload, (state.closeConnection ?? false) || closeEveryConnection);
  });
  return true;
}

export function sendError(res: HttpResponse, state: RequestState, code: ErrorCode, message?: string, headers: Headers = {}): boolean {
  return sendJson(res, state, errorCodes[code].status, errorBody(code, message), headers);
}

export function sendText(res: HttpResponse, state: RequestState, status: number, contentType: string, body: string | Buffer): boolean {
  if (state.aborted || state.answered) return false;
  state.answered = true;
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', contentType).writeHeader('X-Request-Id', state.id).writeHeader('X-Served-By', SERVED_BY);
    res.end(body, (state.closeConnection ?? false) || closeEveryConnection);
  });
  return true;
}

const REASONS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

function statusLine(status: number): string {
  return `${status} ${REASONS[status] ?? ''}`.trimEnd();
}
