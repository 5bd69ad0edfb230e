/**
 * The read-only routes around /predict: the demo page (GET /), GET /metrics (the whole deployment's metrics,
 * see metrics-publisher.ts), GET /v1/models (the models the live hosts serve, from their heartbeat hashes) and
 * GET /openapi.json.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import type { ScrapeResult } from '../observability/metrics-publisher.ts';
import { requestState, type Observe } from './access.ts';
import { DEMO_PAGE_HTML } from './demo-page.ts';
import { openApiDocument } from './openapi.ts';
import { sendError, sendJson, sendText } from './respond.ts';

export interface InfoContext {
  redis: RedisClient;
  keys: Keys;
  observe: Observe;
  /** The deployment's metrics in Prometheus text format. */
  scrapeMetrics(): Promise<ScrapeResult>;
  onRedisError?(): void;
}

export interface ModelInfo {
  name: string;
  format: string;
  engine: string;
  backend: string;
  maxBatch: number;
  input?: { height: number; width: number; channels: number; layout: string };
  preprocessing?: { channelOrder: string; scale: number; mean: number[]; std: number[] };
  output?: string;
  labels?: string[];
  /** Live model hosts serving it with this engine and batch size. */
  hosts: number;
}

const OPENAPI_JSON = JSON.stringify(openApiDocument);

function parseJson<T>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** The live hosts' heartbeat hashes, grouped into one entry per distinct (model, format, engine, backend, maxBatch). */
export async function readModels(redis: RedisClient, keys: Keys): Promise<ModelInfo[]> {
  const ids = await redis.zrangebyscore(keys.hosts, Date.now(), '+inf');
  if (ids.length === 0) return [];
  const tx = redis.multi();
  for (const id of ids) tx.hgetall(keys.hostInfo(id));
  const replies = (await tx.exec()) ?? [];
  const models = new Map<string, ModelInfo>();
  for (const [err, value] of replies) {
    const h = value as Record<string, string> | null;
    if (err || !h || !h.model) continue; // expired between the two reads
    const key = [h.model, h.format, h.engine, h.backend, h.maxBatch].join('\u0000');
    const seen = models.get(key);
    if (seen) {
      seen.hosts++;
      continue;
    }
    const info: ModelInfo = {
      name: h.model, format: h.format ?? '', engine: h.engine ?? '', backend: h.backend ?? '', maxBatch: Number(h.maxBatch),
      input: parseJson(h.input), preprocessing: parseJson(h.preprocessing), output: h.output, labels: parseJson(h.labels), hosts: 1,
    };
    models.set(key, info);
  }
  return [...models.values()];
}

export function registerInfoRoutes(app: TemplatedApp, ctx: InfoContext): void {
  app.get('/', (res, req) => {
    const state = requestState(req);
    if (sendText(res, state, 200, 'text/html; charset=utf-8', DEMO_PAGE_HTML)) ctx.observe('/', 'GET', state, 200);
  });

  app.get('/openapi.json', (res, req) => {
    const state = requestState(req);
    if (sendText(res, state, 200, 'application/json', OPENAPI_JSON)) ctx.observe('/openapi.json', 'GET', state, 200);
  });

  app.get('/metrics', (res: HttpResponse, req: HttpRequest) => {
    const state = requestState(req);
    res.onAborted(() => { state.aborted = true; });
    void ctx.scrapeMetrics().then(
      (m) => {
        if (sendText(res, state, 200, m.contentType, m.text)) ctx.observe('/metrics', 'GET', state, 200, { processes: m.processes });
      },
      (err: Error) => {
        if (sendError(res, state, 'INTERNAL')) ctx.observe('/metrics', 'GET', state, 500, { err: err.message });
      },
    );
  });

  app.get('/v1/models', (res, req) => {
    const state = requestState(req);
    res.onAborted(() => { state.aborted = true; });
    void readModels(ctx.redis, ctx.keys).then(
      (models) => {
        if (sendJson(res, state, 200, { success: true, models })) ctx.observe('/v1/models', 'GET', state, 200, { models: models.length });
      },
      (err: Error) => {
        ctx.onRedisError?.();
        if (sendError(res, state, 'NOT_READY', 'Redis is unreachable.', { 'Retry-After': '1' })) ctx.observe('/v1/models', 'GET', state, 503, { err: err.message });
      },
    );
  });
}
