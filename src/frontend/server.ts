/** The uWS app: routes and their handlers. Everything stateful is passed in; this file only wires URLs. */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import type { Keys } from '../wire/keys.ts';
import { handlePredict, type PredictContext } from './predict.ts';
import { sendError, sendJson, sendText, type RequestState } from './respond.ts';
import { uwsBinary } from './uws.ts';

export interface ServerContext extends PredictContext {
  keys: Keys;
  redis: Redis;
}

const WELCOME = 'Image classification service. POST an image to /predict (multipart field "image").\n' +
  'Example: curl -F image=@examples/chelsea.png http://127.0.0.1:8080/predict\n';

function quickState(req: HttpRequest): RequestState {
  return { id: req.getHeader('x-request-id') || randomUUID(), startedAt: Date.now(), aborted: false, answered: false };
}

/** Readiness: Redis answers and at least one model host has a fresh heartbeat. */
async function readiness(ctx: ServerContext): Promise<{ ready: boolean; body: Record<string, unknown> }> {
  try {
    const now = Date.now();
    const hostIds = await ctx.redis.zrangebyscore(ctx.keys.hosts, now, '+inf');
    const hosts = await Promise.all(hostIds.map(async (id) => ({ id, ...(await ctx.redis.hgetall(ctx.keys.hostInfo(id))) })));
    const live = hosts.filter((h) => 'model' in h);
    return { ready: live.length > 0 && !ctx.isDraining(), body: { redis: 'ok', modelHosts: live, uws: uwsBinary, draining: ctx.isDraining() } };
  } catch (err) {
    return { ready: false, body: { redis: (err as Error).message.slice(0, 100) } };
  }
}

export function registerRoutes(app: TemplatedApp, ctx: ServerContext): void {
  app.post('/predict', (res, req) => handlePredict(ctx, res, req));

  app.get('/', (res, req) => {
    sendText(res, quickState(req), 200, 'text/plain; charset=utf-8', WELCOME);
  });

  app.get('/healthz', (res, req) => {
    sendJson(res, quickState(req), 200, { status: 'alive' });
  });

  app.get('/readyz', (res, req) => {
    const state = quickState(req);
    res.onAborted(() => { state.aborted = true; });
    void readiness(ctx).then(({ ready, body }) => {
      if (ready) sendJson(res, state, 200, { ready: true, ...body });
      else sendJson(res, state, 503, { success: false, ready: false, error: { code: 'NOT_READY', message: 'The service is not ready.' }, ...body });
    });
  });

  app.any('/predict', (res, req) => {
    sendError(res, quickState(req), 'METHOD_NOT_ALLOWED', undefined, { Allow: 'POST' });
  });
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    sendError(res, quickState(req), 'NOT_FOUND');
  });
}
