/** The front end's routes, on whichever HTTP server runs (http/types.ts). This file only wires URLs. */
import { errorBody } from '../wire/errors.ts';
import type { HttpServer } from '../http/types.ts';
import { registerInfoRoutes, serverInfo } from './info-routes.ts';
import { readinessEntries } from '../wire/heartbeat.ts';
import { readHosts } from '../registry/host-registry.ts';
import { handlePredict } from './predict.ts';
import type { ServerContext } from './server-context.ts';
import { Answer } from '../http/respond.ts';
import { strictHttp } from './strict-http.ts';
import { DEPLOYMENT_HEADER, PROBE_HEADER } from './port-guard.ts';
import { registerV2Routes } from './v2/routes.ts';

/** Readiness: Redis answers and every model this deployment serves has a live host (a fresh heartbeat). */
export async function readiness(
  ctx: ServerContext,
  http: HttpServer,
): Promise<{ ready: boolean; body: Record<string, unknown> }> {
  try {
    // One entry per host and model; the models' labels, input and preprocessing are for GET /v1/models.
    const live = (await readHosts(ctx.redis, ctx.keys)).flatMap((h) => readinessEntries(h.id, h));
    const missing = ctx.repository.models.map((m) => m.name).filter((name) => !live.some((h) => h.model === name));
    return {
      ready: live.length > 0 && missing.length === 0 && !ctx.isDraining(),
      body: {
        redis: 'ok',
        modelHosts: live,
        ...(missing.length > 0 && { modelsWithoutHost: missing }),
        ...serverInfo(http),
        draining: ctx.isDraining(),
      },
    };
  } catch (err) {
    // The driver's message names addresses and internals: it goes to the log, never to the client.
    ctx.log.debug({ err: (err as Error).message }, 'readiness: redis unreachable');
    return { ready: false, body: { redis: 'unreachable', ...serverInfo(http) } };
  }
}

export function registerRoutes(server: HttpServer, ctx: ServerContext): void {
  const http = strictHttp(server, ctx);
  http.route('POST', '/predict', (req, res) => handlePredict(ctx, req, res));

  registerInfoRoutes(http, ctx);

  http.route('GET', '/healthz', (req, res) => {
    const probed = req.headers[PROBE_HEADER] !== undefined;
    new Answer(res, req, '/healthz', ctx).json(200, { status: 'alive' }, undefined, {
      ...(probed && { [DEPLOYMENT_HEADER]: ctx.deployment }),
    });
  });

  http.route('GET', '/readyz', (req, res) => {
    const answer = new Answer(res, req, '/readyz', ctx);
    // A load balancer needs the status only. Host names, pids, start times and the uWS binary are for operators:
    // shown with METRICS_KEY, and a not-ready answer's reason is in its access line.
    const operator = ctx.metricsGuard?.enabled === true && ctx.metricsGuard.check(req.headers.authorization).ok;
    void readiness(ctx, http).then(({ ready, body }) => {
      const details = operator ? body : {};
      if (ready) return answer.json(200, { ready: true, ...details });
      const { modelHosts, ...reason } = body;
      const hosts = Array.isArray(modelHosts) ? modelHosts.length : 0;
      answer.json(
        503,
        { ...errorBody('NOT_READY'), ready: false, ...details },
        { code: 'NOT_READY', ...reason, modelHosts: hosts },
      );
    });
  });

  registerV2Routes(http, ctx, async () => (await readiness(ctx, http)).ready);

  http.route('ANY', '/predict', (req, res) => {
    new Answer(res, req, '/predict', ctx).error('METHOD_NOT_ALLOWED', undefined, undefined, { Allow: 'POST' });
  });
  http.route('ANY', '/*', (req, res) => {
    new Answer(res, req, 'other', ctx).error('NOT_FOUND', undefined, { path: req.path.slice(0, 200) });
  });
}
