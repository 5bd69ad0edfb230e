/**
 * The read-only routes around /predict: the demo page (GET /), GET /metrics (the whole deployment's metrics,
 * see metrics-publisher.ts), GET /v1/models (the models the live hosts serve, from their heartbeat hashes) and
 * GET /openapi.json.
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import type { ScrapeResult } from '../observability/metrics-publisher.ts';
import type { Access } from '../http/access.ts';
import { DEMO_PAGE_HTML } from './demo-page.ts';
import type { HttpServer, HttpServerKind } from '../http/types.ts';
import { openApiDocument } from './openapi.ts';
import { Answer } from '../http/respond.ts';
import { readModels } from './live-models.ts';
import { authorize } from './authorize.ts';
import type { Guard } from '../auth/guard.ts';

export interface InfoContext extends Access {
  redis: RedisClient;
  keys: Keys;
  /** The deployment's metrics in Prometheus text format. */
  scrapeMetrics(): Promise<ScrapeResult>;
  onRedisError?(): void;
  /** METRICS_KEY on GET /metrics; absent or disabled: open. */
  metricsGuard?: Guard;
  /** API keys on model metadata (it names the models), with its own rate limit; absent or disabled: open. */
  metadataGuard?: Guard;
}

const OPENAPI_JSON = JSON.stringify(openApiDocument);

/** Which HTTP server answers, for /readyz and /v1/models: `uws` also names its native binary. */
export function serverInfo(http: HttpServer): { httpServer: HttpServerKind; uws?: string } {
  return http.kind === 'uws' ? { httpServer: 'uws', uws: http.detail } : { httpServer: http.kind };
}

export function registerInfoRoutes(http: HttpServer, ctx: InfoContext): void {
  http.route('GET', '/', (req, res) => {
    new Answer(res, req, '/', ctx).send(200, 'text/html; charset=utf-8', DEMO_PAGE_HTML);
  });

  http.route('GET', '/openapi.json', (req, res) => {
    new Answer(res, req, '/openapi.json', ctx).send(200, 'application/json', OPENAPI_JSON);
  });

  http.route('GET', '/metrics', (req, res) => {
    const answer = new Answer(res, req, '/metrics', ctx);
    if (!authorize(ctx.metricsGuard, req, answer)) return;
    void ctx.scrapeMetrics().then(
      (m) => answer.send(200, m.contentType, m.text, { processes: m.processes }),
      (err: Error) => answer.error('INTERNAL', undefined, { err: err.message }),
    );
  });

  http.route('GET', '/v1/models', (req, res) => {
    const answer = new Answer(res, req, '/v1/models', ctx);
    if (!authorize(ctx.metadataGuard, req, answer)) return;
    void readModels(ctx.redis, ctx.keys).then(
      // The server kind only: the uWS binary's path (and its Node ABI) is for operators (/readyz with METRICS_KEY).
      (models) => answer.json(200, { success: true, httpServer: http.kind, models }, { models: models.length }),
      (err: Error) => {
        ctx.onRedisError?.();
        answer.error('NOT_READY', 'Redis is unreachable.', { err: err.message });
      },
    );
  });
}
