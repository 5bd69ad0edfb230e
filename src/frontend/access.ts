/**
 * The access line and the request metrics of every route but /predict (which logs its own, richer line): one
 * pino line per answered request, carrying the request id that the X-Request-Id header returns.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest } from 'uWebSockets.js';
import type { Logger } from '../observability/logger.ts';
import type { FrontendMetrics, Route } from '../observability/metrics.ts';
import type { RequestState } from './respond.ts';

/** What an incoming X-Request-Id (e.g. from nginx) must look like to be reused; anything else gets a fresh id. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestState(req: HttpRequest): RequestState {
  const incoming = req.getHeader('x-request-id');
  return { id: REQUEST_ID.test(incoming) ? incoming : randomUUID(), startedAt: Date.now(), aborted: false, answered: false };
}

export type Observe = (route: Route, method: string, state: RequestState, status: number, fields?: Record<string, unknown>) => void;

/** Probes polled every second or so log at debug, so LOG_LEVEL=info is not flooded by them. */
const QUIET: ReadonlySet<Route> = new Set(['/healthz', '/readyz', '/metrics']);

export function createObserver(log: Logger, metrics: FrontendMetrics): Observe {
  return (route, method, state, status, fields) => {
    const ms = Date.now() - state.startedAt;
    metrics.observe(route, status, ms);
    const level = status >= 500 ? 'warn' : QUIET.has(route) ? 'debug' : 'info';
    log[level]({ reqId: state.id, method, route, status, ms, ...fields }, status < 400 ? 'request done' : 'request failed');
  };
}
