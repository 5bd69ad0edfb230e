/**
 * The labels requests are counted and logged by (the `route` of /metrics and access lines): one per route of the
 * front end, the admin server and the gRPC service; any other path is `other`, so a scanner cannot blow up the
 * label set. Owned by the HTTP seam; metrics take the label they are given.
 */
export const ROUTES = [
  '/',
  '/predict',
  '/healthz',
  '/readyz',
  '/metrics',
  '/v1/models',
  '/openapi.json',
  '/v2/repository',
  // Open Inference Protocol: server metadata, health, model metadata / readiness, inference.
  '/v2',
  '/v2/health',
  '/v2/models',
  '/v2/infer',
] as const;
export type Route = (typeof ROUTES)[number] | 'other';

/** The metrics route of a route pattern: itself when counted, else `other`. */
export function routeOf(pattern: string): Route {
  return (ROUTES as readonly string[]).includes(pattern) ? (pattern as Route) : 'other';
}
