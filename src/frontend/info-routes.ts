/**
 * The read-only routes around /predict: the demo page (GET /), GET /metrics (the whole deployment's metrics,
 * see metrics-publisher.ts), GET /v1/models (the models the live hosts serve, from their heartbeat hashes) and
 * GET /openapi.json.
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { decodeHeartbeat, type ModelInput, type ModelPreprocessing } from '../wire/heartbeat.ts';
import type { ScrapeResult } from '../observability/metrics-publisher.ts';
import type { Access } from './access.ts';
import { DEMO_PAGE_HTML } from './demo-page.ts';
import type { HttpServer, HttpServerKind } from './http/types.ts';
import { openApiDocument } from './openapi.ts';
import { Answer } from './respond.ts';
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
  /** API keys on model metadata (it names the models), as on inference; absent or disabled: open. */
  inferenceGuard?: Guard;
}

export interface ModelInfo {
  name: string;
  format: string;
  engine: string;
  backend: string;
  maxBatch: number;
  input?: ModelInput;
  preprocessing?: ModelPreprocessing;
  output?: string;
  labels?: string[];
  /** Live model hosts serving it with this engine and batch size. */
  hosts: number;
}

const OPENAPI_JSON = JSON.stringify(openApiDocument);

/** The live hosts' heartbeat hashes, grouped into one entry per distinct (model, format, engine, backend, maxBatch). */
export async function readModels(redis: RedisClient, keys: Keys): Promise<ModelInfo[]> {
  const ids = await redis.zrangebyscore(keys.hosts, Date.now(), '+inf');
  if (ids.length === 0) return [];
  const tx = redis.multi();
  for (const id of ids) tx.hgetall(keys.hostInfo(id));
  const replies = (await tx.exec()) ?? [];
  const models = new Map<string, ModelInfo>();
  for (const [err, value] of replies) {
    const h = err ? undefined : decodeHeartbeat(value as Record<string, string> | null);
    if (!h) continue; // expired between the two reads
    const key = [h.model, h.format, h.engine, h.backend, h.maxBatch].join('\u0000');
    const seen = models.get(key);
    if (seen) {
      seen.hosts++;
      continue;
    }
    const info: ModelInfo = {
      name: h.model, format: h.format, engine: h.engine, backend: h.backend, maxBatch: h.maxBatch,
      input: h.input, preprocessing: h.preprocessing, output: h.output, labels: h.labels, hosts: 1,
    };
    models.set(key, info);
  }
  return [...models.values()];
}

/** Which HTTP server answers, for /readyz and /v1/models: `uws` also names its native binary. */
export function serverInfo(http: HttpServer): { httpServer: HttpServerKind; uws?: string } {
  return http.kind === 'uws' ? { httpServer: 'uws', uws: http.detail } : { httpServer: http.kind };
}

export function registerInfoRoutes(http: HttpServer, ctx: InfoContext): void {
  http.route('GET', '/', (req, res) => {
    new Answer(res, req, '/', ctx).text(200, 'text/html; charset=utf-8', DEMO_PAGE_HTML);
  });

  http.route('GET', '/openapi.json', (req, res) => {
    new Answer(res, req, '/openapi.json', ctx).text(200, 'application/json', OPENAPI_JSON);
  });

  http.route('GET', '/metrics', (req, res) => {
    const answer = new Answer(res, req, '/metrics', ctx);
    if (!authorize(ctx.metricsGuard, req, answer)) return;
    void ctx.scrapeMetrics().then(
      (m) => answer.text(200, m.contentType, m.text, { processes: m.processes }),
      (err: Error) => answer.error('INTERNAL', undefined, { err: err.message }),
    );
  });

  http.route('GET', '/v1/models', (req, res) => {
    const answer = new Answer(res, req, '/v1/models', ctx);
    if (!authorize(ctx.inferenceGuard, req, answer)) return;
    void readModels(ctx.redis, ctx.keys).then(
      (models) => answer.json(200, { success: true, ...serverInfo(http), models }, { models: models.length }),
      (err: Error) => {
        ctx.onRedisError?.();
        answer.error('NOT_READY', 'Redis is unreachable.', { err: err.message });
      },
    );
  });
}
