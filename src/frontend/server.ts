/** The uWS app: routes and their handlers. Everything stateful is passed in; this file only wires URLs. */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { handlePredict, type PredictContext } from './predict.ts';
import { sendError, sendJson, type RequestState } from './respond.ts';
import { uwsBinary } from './uws.ts';
import { requestState } from './access.ts';
import { registerInfoRoutes, type InfoContext } from './info-routes.ts';

export interface ServerContext extends PredictContext, InfoContext {
  keys: Keys;
  redis: RedisClient;
}

function quickState(req: HttpRequest): RequestState {
  return requestState(req);
}

/** Readiness: Redis answers and at least one model host has a fresh heartbeat. */
async function readiness(ctx: ServerContext): Promise<{ ready: boolean; body: Record<string, unknown> }> {
  try {
    const now = Date.now();
    const hostIds = await ctx.redis.zrangebyscore(ctx.keys.hosts, now, '+inf');
    const hosts = await Promise.all(hostIds.map(async (id) => ({ id, ...(await ctx.redis.hgetall(ctx.keys.hostInfo(id))) })));
    // The model's labels, input and preprocessing are for GET /v1/models; readiness lists the hosts only.
    const live = hosts.filter((h) => 'model' in h).map((h) => {
      const { labels: _l, input: _i, preprocessing: _p, output: _o, ...host } = h as Record<string, string>;
      return host;
    });
    return { ready: live.length > 0 && !ctx.isDraining(), body: { redis: 'ok', modelHosts: live, uws: uwsBinary, draining: ctx.isDraining() } };
  } catch (err) {
    // The driver's message names addresses and internals: it goes to the log, never to the client.
    ctx.log.debug({ err: (err as Error).message }, 'readiness: redis unreachable');
    return { ready: false, body: { redis: 'unreachable' } };
  }
}

export function registerRoutes(app: TemplatedApp, ctx: ServerContext): void {
  app.post('/predict', (res, req) => handlePredict(ctx, res, req));

  registerInfoRoutes(app, ctx);

  app.get('/healthz', (res, req) => {
    const state = quickState(req);
    if (sendJson(res, state, 200, { status: 'alive' })) ctx.observe('/healthz', 'GET', state, 200);
  });

  app.get('/readyz', (res, req) => {
    const state = quickState(req);
    res.onAborted(() => { state.aborted = true; });
    void readiness(ctx).then(({ ready, body }) => {
      if (ready) {
        if (sendJson(res, state, 200, { ready: true, ...body })) ctx.observe('/readyz', 'GET', state, 200);
      } else if (sendJson(res, state, 503, { success: false, ready: false, error: { code: 'NOT_READY', message: 'The service is not ready.' }, ...body })) {
        ctx.observe('/readyz', 'GET', state, 503);
      }
    });
  });

  app.any('/predict', (res, req) => {
    const state = quickState(req);
    const method = req.getCaseSensitiveMethod();
    if (sendError(res, state, 'METHOD_NOT_ALLOWED', undefined, { Allow: 'POST' })) ctx.observe('/predict', method, state, 405, { code: 'METHOD_NOT_ALLOWED' });
  });
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const state = quickState(req);
    const method = req.getCaseSensitiveMethod();
    const path = req.getUrl().slice(0, 200);
    if (sendError(res, state, 'NOT_FOUND')) ctx.observe('other', method, state, 404, { code: 'NOT_FOUND', path });
  });
}
