/**
 * The gRPC side of the nginx configuration (nginx/grpc.conf.template): where nginx listens for gRPC, the front
 * ends' gRPC ports it spreads calls over, and nginx's own errors as gRPC statuses (src/wire/grpc-status.ts), so a
 * gRPC client never sees an HTML page or a bare HTTP status from the proxy.
 */
import type { DeploymentConfig } from '../../src/config/deployment.ts';
import { errorCodes, protocolErrorBody, type ErrorCode } from '../../src/wire/errors.ts';
import { grpcStatusOf, retryTrailers } from '../../src/wire/grpc-status.ts';

/** The gRPC frame header before each message: nginx's body limit is BODY_LIMIT_BYTES plus this. */
export const GRPC_FRAME_HEADER_BYTES = 5;

export interface NginxGrpcSettings {
  listen: string;
  /** host:port of each front end's gRPC port. */
  upstreams: string[];
  maxConcurrentStreams: number;
}

/** undefined when nginx serves no gRPC: GRPC_PORT=off, or remote front ends without NGINX_GRPC_UPSTREAMS. */
export function nginxGrpcSettings(d: DeploymentConfig, frontendHost: string): NginxGrpcSettings | undefined {
  const { GRPC_PORT } = d.service;
  if (GRPC_PORT === 'off') return undefined;
  const list = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  let upstreams = list(d.NGINX_GRPC_UPSTREAMS);
  if (upstreams.length === 0) {
    if (list(d.NGINX_UPSTREAMS).length > 0) return undefined;
    if (GRPC_PORT === 0) throw new Error('GRPC_PORT=0 (any free port) cannot be proxied by nginx: set a port, or off');
    upstreams = Array.from({ length: d.FRONTENDS }, (_, i) => `${frontendHost}:${GRPC_PORT + i}`);
  }
  const host = d.NGINX_HOST;
  return {
    listen: `${host.includes(':') ? `[${host}]` : host}:${d.NGINX_GRPC_PORT}`,
    upstreams,
    maxConcurrentStreams: d.service.GRPC_MAX_CONCURRENT_STREAMS,
  };
}

/** Where nginx's own gRPC error answers live (internal locations: a client asking for them gets 404). */
const GRPC_ERROR_PAGES = '/_classify_grpc_errors';

/** `error_page` lines and their locations: each of nginx's own statuses as the registry's gRPC status. */
export function grpcErrorPages(errors: ReadonlyArray<[number, ErrorCode]>, bodyLimitBytes: number): string {
  return errors
    .map(([httpStatus, code]) => {
      if (errorCodes[code].status !== httpStatus)
        throw new Error(`${code} is ${errorCodes[code].status}, not ${httpStatus}`);
      const message =
        code === 'BODY_TOO_LARGE' ? `The request message is larger than ${bodyLimitBytes} bytes.` : undefined;
      const details = protocolErrorBody(code, message).error;
      if (/["\\$%]/.test(details)) throw new Error(`grpc-message for ${code} needs escaping: ${details}`);
      // As REST's pages: 429 and 503 say when to retry (1 s).
      const retry = retryTrailers(code, httpStatus === 429 || httpStatus === 503 ? 1 : undefined);
      const trailers = Object.entries(retry).map(([k, v]) => `        add_header ${k} ${v} always;\n`);
      // A URI, not a named location: nginx cannot redirect to a named one from a request whose path did not parse
      // (`/%ZZ`), and answered its bare HTML 500 instead (as on the REST side, scripts/nginx-render.ts).
      const page = `${GRPC_ERROR_PAGES}/${httpStatus}`;
      return (
        `    error_page ${httpStatus} ${page};\n` +
        `    location = ${page} {\n        internal;\n        default_type application/grpc;\n` +
        `        add_header grpc-status ${grpcStatusOf[code]} always;\n` +
        `        add_header grpc-message "${details}" always;\n` +
        `        add_header x-request-id $classify_req_id always;\n${trailers.join('')}` +
        // 204: headers only, ending the stream, which gRPC clients read as a trailers-only answer.
        `        return 204;\n    }`
      );
    })
    .join('\n');
}
