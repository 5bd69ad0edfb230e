/**
 * The access line and the request metrics: one pino line per request, on every route and exit path, carrying
 * the request id that the X-Request-Id header returns. Only respond.ts writes them.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import type { FrontendMetrics } from '../observability/metrics.ts';
import type { Route } from './route-labels.ts';

/** What an incoming X-Request-Id (e.g. from nginx) must look like to be reused; anything else gets a fresh id. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(incoming: string | undefined): string {
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Where access lines and request metrics go. */
export interface Access {
  log: Logger;
  metrics: FrontendMetrics;
}

export interface AccessEntry {
  route: Route;
  method: string;
  reqId: string;
  startedAt: number;
  /** The name of the API key the request presented (never the key itself). */
  key?: string;
  /** Set for gRPC calls (their metrics series carry protocol="grpc"); absent for HTTP. */
  protocol?: 'grpc';
}

/** Probes polled every second or so log at debug, so LOG_LEVEL=info is not flooded by them. */
const QUIET: ReadonlySet<Route> = new Set(['/healthz', '/readyz', '/metrics']);

/** 499: the client left before the answer (nginx's code for it). */
export const CLIENT_GONE_STATUS = 499;

export function writeAccessLine(
  access: Access,
  entry: AccessEntry,
  status: number,
  fields?: Record<string, unknown>,
): void {
  const ms = Date.now() - entry.startedAt;
  access.metrics.observe(entry.route, status, ms, entry.key, entry.protocol);
  const level = status >= 500 && status !== CLIENT_GONE_STATUS ? 'warn' : QUIET.has(entry.route) ? 'debug' : 'info';
  const msg = status === CLIENT_GONE_STATUS ? 'request aborted' : status < 400 ? 'request done' : 'request failed';
  const { route, method, reqId, key, protocol } = entry;
  const optional = { ...(key !== undefined && { key }), ...(protocol !== undefined && { protocol }) };
  access.log[level]({ reqId, method, route, status, ms, ...optional, ...fields }, msg);
}
