/**
 * One gRPC call as the shared request path sees it (the Exchange that REST's Answer also is): its request id,
 * its answer (a message or a status from the error registry), and its one access line and metric, written when
 * the call ends, whichever way: our answer, a status grpc-js sends by itself (a message over the limit, the
 * client's deadline), or the client going away.
 */
import { randomUUID } from 'node:crypto';
import { Metadata, type sendUnaryData, type StatusObject } from '@grpc/grpc-js';
import { errorCodes, protocolErrorBody, type ErrorCode } from '../wire/errors.ts';
import { grpcStatusName, grpcStatusOf, httpEquivalent, retryTrailers } from '../wire/grpc-status.ts';
import type { Route } from '../http/route-labels.ts';
import { CLIENT_GONE_STATUS, REQUEST_ID, writeAccessLine, type Access, type AccessEntry } from '../http/access.ts';
import type { Exchange, Fields } from '../http/exchange.ts';
import type { Span } from '../observability/tracer.ts';
import { annotateServerSpan, endServerSpan } from '../http/server-span.ts';

type Status = Pick<StatusObject, 'code' | 'details'> & { metadata?: Metadata | null };

export class GrpcExchange implements Exchange {
  readonly startedAt = Date.now();
  private readonly entry: AccessEntry;
  private context: Fields = {};
  /** The registry's code of the error we answered, for the access line and the HTTP-equivalent status. */
  private code: ErrorCode | undefined;
  /** We answered (a message or a status), so an end without it means grpc-js or the client ended the call. */
  private answering = false;
  private ended = false;
  private aborts: Array<() => void> = [];
  private respond: sendUnaryData<unknown> | undefined;
  /** ModelInfer's server span, when tracing is on (call-interceptor.ts starts it). */
  span: Span | undefined;

  /** `sendStatus` answers before a handler runs (the call's key refused, its message too slow). */
  constructor(
    rpc: string,
    route: Route,
    private readonly access: Access,
    private readonly sendStatus: (status: Status) => void,
  ) {
    this.entry = { route, method: rpc, reqId: randomUUID(), startedAt: this.startedAt, protocol: 'grpc' };
  }

  get id(): string {
    return this.entry.reqId;
  }

  /** The client's x-request-id (nginx's, or its own), when it is one REST would accept too. */
  adoptRequestId(incoming: string | undefined): void {
    if (incoming !== undefined && REQUEST_ID.test(incoming)) this.entry.reqId = incoming;
  }

  annotate(fields: Fields): void {
    this.context = { ...this.context, ...fields };
    if (this.span) annotateServerSpan(this.span, fields);
  }

  setKeyName(name: string): void {
    this.entry.key = name;
  }

  onAbort(listener: () => void): void {
    if (this.ended && !this.answering) listener();
    else this.aborts.push(listener);
  }

  /** The handler's answer callback: from now on answers go through it. */
  bind(callback: sendUnaryData<unknown>): void {
    this.respond = callback;
  }

  get done(): boolean {
    return this.answering || this.ended;
  }

  reply(message: unknown, fields?: Fields): boolean {
    if (this.done || !this.respond) return false;
    this.answering = true;
    if (fields) this.annotate(fields);
    this.respond(null, message);
    return true;
  }

  error(code: ErrorCode, message?: string, fields?: Fields, headers: Record<string, string> = {}): boolean {
    if (this.done) return false;
    this.answering = true;
    this.code = code;
    this.annotate({ code, ...fields });
    const trailers = new Metadata();
    const retryAfter = headers['Retry-After'];
    const retry = retryTrailers(code, retryAfter === undefined ? undefined : Number(retryAfter));
    for (const [k, v] of Object.entries(retry)) trailers.set(k, v);
    if (headers['WWW-Authenticate'] !== undefined) trailers.set('www-authenticate', headers['WWW-Authenticate']);
    // The same text as REST's protocol errors: the code, then the message.
    const status = { code: grpcStatusOf[code], details: protocolErrorBody(code, message).error, metadata: trailers };
    if (this.respond) this.respond(status);
    else this.sendStatus(status);
    return true;
  }

  /**
   * A status grpc-js sends by itself, in the registry's words as REST would say it: a message over the limit is
   * BODY_TOO_LARGE, a passed client deadline DEADLINE_EXCEEDED. Others pass as they are.
   */
  ownStatus<S extends Status>(status: S, bodyLimitBytes: number): S {
    if (this.answering || this.ended) return status;
    const own: Partial<Record<number, [ErrorCode, string | undefined]>> = {
      [grpcStatusOf.BODY_TOO_LARGE]: ['BODY_TOO_LARGE', `The request message is larger than ${bodyLimitBytes} bytes.`],
      [grpcStatusOf.DEADLINE_EXCEEDED]: ['DEADLINE_EXCEEDED', undefined],
    };
    const mapped = own[status.code];
    if (!mapped) return status;
    this.code = mapped[0];
    this.annotate({ code: mapped[0], detail: status.details });
    return { ...status, details: protocolErrorBody(mapped[0], mapped[1]).error };
  }

  /** The call ended with `status`: ours, or one grpc-js sent by itself. Writes the access line once. */
  finished(status: Status): void {
    if (this.ended) return;
    this.ended = true;
    const http = this.code !== undefined ? errorCodes[this.code].status : httpEquivalent(status.code);
    const grpcStatus = grpcStatusName(status.code);
    const own = this.answering || this.code !== undefined ? {} : { detail: status.details };
    writeAccessLine(this.access, this.entry, http, { ...this.context, grpcStatus, ...own });
    if (this.span) {
      this.span.setAttributes({ 'rpc.grpc.status_code': status.code });
      endServerSpan(this.span, http, this.code, 0);
    }
    if (!this.answering) this.abort();
  }

  /** The call ended without a status (grpc-js also reports every ended call so; then this is a no-op): the client went away. */
  cancelled(): void {
    if (this.ended) return;
    this.ended = true;
    writeAccessLine(this.access, this.entry, CLIENT_GONE_STATUS, { ...this.context, grpcStatus: 'CANCELLED' });
    if (this.span) endServerSpan(this.span, CLIENT_GONE_STATUS, 'CLIENT_GONE', 0);
    this.abort();
  }

  private abort(): void {
    const listeners = this.aborts;
    this.aborts = [];
    for (const l of listeners) l();
  }
}
