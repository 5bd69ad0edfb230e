/**
 * The service's error codes (errors.ts) as gRPC status codes, for the gRPC front end and for nginx's own errors
 * on the gRPC port (scripts/nginx-render.ts). One table, so both say the same thing for the same failure.
 * Codes with a Retry-After in REST say when to retry over gRPC too: `retry-after` (seconds, as REST) and
 * `grpc-retry-pushback-ms` (what gRPC clients with a retry policy honour) in the trailers.
 */
import { status } from '@grpc/grpc-js';
import { errorCodes, type ErrorCode } from './errors.ts';

export const grpcStatusOf = {
  MISSING_IMAGE: status.INVALID_ARGUMENT,
  INVALID_IMAGE: status.INVALID_ARGUMENT,
  BAD_REQUEST: status.INVALID_ARGUMENT,
  TOO_MANY_IMAGES: status.INVALID_ARGUMENT,
  // The image itself is the problem (its pixels, its decoding work): resending it never helps.
  IMAGE_TOO_LARGE: status.INVALID_ARGUMENT,
  IMAGE_TOO_COMPLEX: status.INVALID_ARGUMENT,
  UNSUPPORTED_MEDIA_TYPE: status.INVALID_ARGUMENT,
  UNAUTHORIZED: status.UNAUTHENTICATED,
  FORBIDDEN: status.PERMISSION_DENIED,
  LOAD_FAILED: status.FAILED_PRECONDITION,
  NOT_FOUND: status.UNIMPLEMENTED,
  MODEL_NOT_FOUND: status.NOT_FOUND,
  METHOD_NOT_ALLOWED: status.UNIMPLEMENTED,
  BODY_TIMEOUT: status.DEADLINE_EXCEEDED,
  BODY_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  RATE_LIMITED: status.RESOURCE_EXHAUSTED,
  INTERNAL: status.INTERNAL,
  BAD_GATEWAY: status.UNAVAILABLE,
  NOT_READY: status.UNAVAILABLE,
  OVERLOADED: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
} as const satisfies Record<ErrorCode, status>;

/** The trailers that say when to retry, for codes that carry a Retry-After in REST (plus a key's own wait). */
export function retryTrailers(code: ErrorCode, retryAfterS?: number): Record<string, string> {
  const entry = errorCodes[code];
  const seconds = retryAfterS ?? ('retryAfterS' in entry ? entry.retryAfterS : undefined);
  if (seconds === undefined) return {};
  return { 'retry-after': String(seconds), 'grpc-retry-pushback-ms': String(seconds * 1000) };
}

/** A status's name (status[14] is 'UNAVAILABLE'), for logs. */
export function grpcStatusName(code: number): string {
  return status[code] ?? String(code);
}

/**
 * The HTTP status REST answers for the same outcome, for the request metrics and access lines the two protocols
 * share: for statuses grpc-js sends by itself (a message over the limit, a passed deadline), and for OK.
 */
export function httpEquivalent(code: number): number {
  switch (code) {
    case status.OK:
      return 200;
    case status.INVALID_ARGUMENT:
      return 400;
    case status.UNAUTHENTICATED:
      return 401;
    case status.PERMISSION_DENIED:
      return 403;
    case status.NOT_FOUND:
    case status.UNIMPLEMENTED:
      return 404;
    case status.RESOURCE_EXHAUSTED:
      return 413;
    case status.UNAVAILABLE:
      return 503;
    case status.DEADLINE_EXCEEDED:
      return 504;
    case status.CANCELLED:
      return 499;
    default:
      return 500;
  }
}
