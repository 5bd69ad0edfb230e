/**
 * The server span of a traced request (POST /predict, /v2 infer; gRPC once it has one): started by the route with
 * the caller's W3C traceparent/tracestate, given the model and version as they are known, ended by the answer
 * with the status, the error code and the bytes. 4xx keeps the span's status unset (the caller's error, as HTTP
 * semantic conventions say for servers) but records the code; 5xx marks it an error.
 */
import type { Span, Tracer } from '../observability/tracer.ts';
import type { IncomingRequest } from './types.ts';

export function startServerSpan(tracer: Tracer, req: IncomingRequest, route: string): Span {
  const { traceparent, tracestate } = req.headers;
  const length = Number(req.headers['content-length']);
  return tracer.start(
    `${req.method} ${route}`,
    { traceparent, tracestate },
    {
      'http.request.method': req.method,
      'http.route': route,
      'url.path': req.path,
      ...(Number.isFinite(length) && { 'http.request.body.size': length }),
    },
    'server',
  );
}

export function annotateServerSpan(span: Span, fields: Record<string, unknown>): void {
  if (typeof fields.model === 'string') span.setAttributes({ 'classify.model': fields.model });
  if (typeof fields.version === 'number') span.setAttributes({ 'classify.model.version': fields.version });
}

export function endServerSpan(span: Span, status: number, code: string | undefined, bytes: number): void {
  span.setAttributes({ 'http.response.status_code': status, 'http.response.body.size': bytes });
  if (code !== undefined) {
    if (status >= 500) span.fail(code);
    else span.setAttributes({ 'error.type': code, 'classify.error.code': code });
  }
  span.end();
}
