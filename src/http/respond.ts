/**
 * Answering a request, for every route: status, headers (X-Request-Id, X-Served-By, Retry-After from the error
 * registry), body, and the request's one access line and metric. An answer is written at most once and never
 * after the client has gone; a client that goes first gets a 499 access line instead.
 */
import { randomBytes } from 'node:crypto';
import type { Route } from './route-labels.ts';
import { errorBody, errorCodes, protocolErrorBody, type ErrorCode } from '../wire/errors.ts';
import { annotateServerSpan, endServerSpan } from './server-span.ts';
import { CLIENT_GONE_STATUS, requestId, writeAccessLine, type Access, type AccessEntry } from './access.ts';
import type { Exchange } from './exchange.ts';
import type { BodyError, IncomingRequest, ServerResponse } from './types.ts';
import type { Span } from '../observability/tracer.ts';

/**
 * X-Served-By: which front-end process answered, so that spreading over several front ends on one port is
 * observable. A random token, not host-pid: strangers see it in direct mode; the front end's start-up log line
 * ties it to the host and pid. nginx logs it (served_by) and hides it from clients.
 */
export const SERVED_BY = `fe-${randomBytes(4).toString('hex')}`;

type Fields = Record<string, unknown>;

export function tooLargeMessage(limit: number): string {
  return `The request body is larger than ${limit} bytes.`;
}

export class Answer implements Exchange {
  readonly id: string;
  readonly startedAt = Date.now();
  /** Ask the client to reconnect for its next request (draining, or a body we did not read). */
  closeConnection = false;
  /** `protocol`: errors in the Open Inference Protocol's shape `{"error": "..."}` (the /v2 routes). */
  errorShape: 'service' | 'protocol' = 'service';
  private readonly entry: AccessEntry;
  /** Fields every access line of this request carries (e.g. the model). */
  private context: Fields = {};
  /** The request's server span, when tracing is on (set by the traced routes: server-span.ts). */
  span: Span | undefined;

  constructor(
    private readonly res: ServerResponse,
    req: IncomingRequest,
    route: Route,
    private readonly access: Access,
  ) {
    this.id = requestId(req.headers['x-request-id']);
    this.entry = { route, method: req.method, reqId: this.id, startedAt: this.startedAt };
    res.onAbort(() => {
      writeAccessLine(access, this.entry, CLIENT_GONE_STATUS, this.context);
      if (this.span) endServerSpan(this.span, CLIENT_GONE_STATUS, 'CLIENT_GONE', 0);
    });
  }

  /** Adds fields to this request's access line (and span), whichever way it ends. */
  annotate(fields: Fields): void {
    this.context = { ...this.context, ...fields };
    if (this.span) annotateServerSpan(this.span, fields);
  }

  /** Names the API key the request presented in its access line and metrics (authorize.ts). */
  setKeyName(name: string): void {
    this.entry.key = name;
  }

  onAbort(listener: () => void): void {
    this.res.onAbort(listener);
  }

  /** The client went away, or the request was answered: nothing more will be written. */
  get done(): boolean {
    return this.res.aborted || this.res.answered;
  }

  json(status: number, body: unknown, fields?: Fields, headers: Record<string, string> = {}): boolean {
    return this.write(status, 'application/json', JSON.stringify(body), fields, headers);
  }

  /** Any content type; the body as given (a string or bytes). */
  send(
    status: number,
    contentType: string,
    body: string | Buffer,
    fields?: Fields,
    headers: Record<string, string> = {},
  ): boolean {
    return this.write(status, contentType, body, fields, headers);
  }

  /** A body that was not read: 413 or 408, closing (the rest may still be arriving); nothing if the client left. */
  bodyError(err: BodyError, limit: number): void {
    if (err.code === 'CLIENT_GONE') return;
    this.closeConnection = true;
    this.error(err.code, err.code === 'BODY_TOO_LARGE' ? tooLargeMessage(limit) : undefined);
  }

  /** The registry's status, message and Retry-After for `code`; `fields` go to the access line only. */
  error(code: ErrorCode, message?: string, fields?: Fields, headers: Record<string, string> = {}): boolean {
    const entry: { status: number; retryAfterS?: number } = errorCodes[code];
    const all = entry.retryAfterS === undefined ? headers : { 'Retry-After': String(entry.retryAfterS), ...headers };
    const body = this.errorShape === 'protocol' ? protocolErrorBody(code, message) : errorBody(code, message);
    return this.write(entry.status, 'application/json', JSON.stringify(body), { code, ...fields }, all);
  }

  private write(
    status: number,
    contentType: string,
    body: string | Buffer,
    fields: Fields | undefined,
    headers: Record<string, string>,
  ): boolean {
    const sent = this.res.send(
      status,
      {
        'Content-Type': contentType,
        'X-Request-Id': this.id,
        'X-Served-By': SERVED_BY,
        ...headers,
      },
      body,
      this.closeConnection,
    );
    if (sent) writeAccessLine(this.access, this.entry, status, { ...this.context, ...fields });
    if (sent && this.span)
      endServerSpan(this.span, status, fields?.code as string | undefined, Buffer.byteLength(body));
    return sent;
  }
}
