/**
 * Writing responses with uWS: each response is corked (one syscall), written at most once, and never after the
 * client has gone. RequestState is the typed per-request flag set that makes that checkable.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { errorBody, errorCodes, type ErrorCode } from '../wire/errors.ts';

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
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json').writeHeader('X-Request-Id', state.id);
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(payload, state.closeConnection ?? false);
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
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', contentType).writeHeader('X-Request-Id', state.id);
    res.end(body, state.closeConnection ?? false);
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
