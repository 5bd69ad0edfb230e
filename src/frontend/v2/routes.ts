/**
 * The Open Inference Protocol (KServe V2) REST endpoints, beside the original API, on the same HTTP seam:
 *
 *   GET  /v2                                          server metadata (extensions: binary_tensor_data, classification)
 *   GET  /v2/health/live, /v2/health/ready            liveness; readiness as /readyz (every model has a live host)
 *   GET  /v2/models/{name}[/versions/{v}]             model metadata: input, output, platform (says the engine)
 *   GET  /v2/models/{name}[/versions/{v}]/ready       that model has a live host
 *   POST /v2/models/{name}[/versions/{v}]/infer       inference (infer-request.ts, infer-response.ts)
 *
 * Versions: `/versions/{v}/` pins one (src/frontend/version-routing.ts), without it the newest ready version
 * answers; metadata lists the versions ready on some host. Errors are `{"error": "CODE: message"}` with the
 * registry's status (and Retry-After); deadlines, admission, body limits, metrics, access logs and request ids
 * are those of /predict, and each element of a request is queued and batched like one /predict image.
 */
import type { Route } from '../../http/route-labels.ts';
import { lazyChild } from '../../observability/logger.ts';
import type { RepositoryModel } from '../../model/repository.ts';
import { authorize } from '../authorize.ts';
import type { HttpServer, IncomingRequest, ServerResponse } from '../../http/types.ts';
import { Answer } from '../../http/respond.ts';
import { decodeParam } from '../../http/router.ts';
import { startServerSpan } from '../../http/server-span.ts';

/** The infer routes' templates, as the server span's http.route (low cardinality, as the conventions ask). */
const INFER_ROUTE = '/v2/models/{name}/infer';
const INFER_ROUTE_VERSIONED = '/v2/models/{name}/versions/{version}/infer';
import { answerFailure, claimBody, withBody } from '../request-body.ts';
import type { ServerContext } from '../server-context.ts';
import { parseInferRequest } from './infer-request.ts';
import { inferResponse } from './infer-response.ts';
import { runInference } from './infer-path.ts';
import { modelMetadata, modelReady, resolveModel, resolveTarget, serverMetadata, tensorModel } from './model-info.ts';

function v2Answer(res: ServerResponse, req: IncomingRequest, route: Route, ctx: ServerContext): Answer {
  const answer = new Answer(res, req, route, ctx);
  answer.errorShape = 'protocol';
  return answer;
}

/** The model named in the path (and its version syntax), else answered 404. */
function modelOf(ctx: ServerContext, req: IncomingRequest, answer: Answer): RepositoryModel | undefined {
  const name = decodeParam(req.params.name);
  if (name === undefined) {
    answer.error('BAD_REQUEST', 'The model name in the path is not valid percent-encoding.');
    return undefined;
  }
  return resolveModel(ctx, answer, name, req.params.version);
}

function metadata(ctx: ServerContext, req: IncomingRequest, res: ServerResponse): void {
  const answer = v2Answer(res, req, '/v2/models', ctx);
  // Model metadata names the models: API keys guard it as they guard GET /v1/models (the metadata bucket).
  if (!authorize(ctx.metadataGuard, req, answer)) return;
  const model = modelOf(ctx, req, answer);
  if (!model) return;
  // A pinned version must exist (404 otherwise), as for infer.
  if (req.params.version !== undefined && !resolveTarget(ctx, answer, model, req.params.version)) return;
  void modelMetadata(ctx, model).then((meta) => answer.json(200, meta));
}

function readiness(ctx: ServerContext, req: IncomingRequest, res: ServerResponse): void {
  const answer = v2Answer(res, req, '/v2/health', ctx);
  if (!authorize(ctx.metadataGuard, req, answer)) return;
  const model = modelOf(ctx, req, answer);
  if (!model) return;
  void modelReady(ctx, model, req.params.version).then(
    (ready) => answer.json(ready ? 200 : 503, { name: model.name, ready }),
    () => answer.error('NOT_READY', 'Redis is unreachable.'),
  );
}

function infer(ctx: ServerContext, req: IncomingRequest, res: ServerResponse): void {
  const answer = v2Answer(res, req, '/v2/infer', ctx);
  if (ctx.tracer)
    answer.span = startServerSpan(ctx.tracer, req, req.params.version ? INFER_ROUTE_VERSIONED : INFER_ROUTE);
  if (ctx.isDraining()) {
    answer.closeConnection = true;
    answer.error('SHUTTING_DOWN');
    return;
  }
  if (!authorize(ctx.inferenceGuard, req, answer)) return;
  const model = modelOf(ctx, req, answer);
  if (!model) return;
  const target = resolveTarget(ctx, answer, model, req.params.version);
  if (!target) return;
  const body = claimBody(ctx, req, res, answer);
  if (!body) return;
  const log = lazyChild(ctx.log, { reqId: answer.id, model: model.name });

  void withBody(ctx, body, async (bytes) => {
    const parsed = parseInferRequest(
      bytes,
      req.headers['inference-header-content-length'],
      tensorModel(model),
      ctx.config.MAX_IMAGES_PER_REQUEST,
    );
    if (!parsed.ok) return answer.error(parsed.code, parsed.message);
    const { request } = parsed;
    const done = await runInference(ctx, answer, target, request, log);
    if (!done) return;
    const out = inferResponse(model.name, done.tensor, request.output.binary, request.id, String(target.version));
    const fields = { elements: request.items.length, batchSizes: done.batchSizes, cacheHits: done.cacheHits };
    answer.send(200, out.contentType, out.body, fields, out.headers);
  }).catch((err: Error) => answerFailure(ctx, answer, err, log, 'infer'));
}

export function registerV2Routes(http: HttpServer, ctx: ServerContext, ready: () => Promise<boolean>): void {
  const server = (req: IncomingRequest, res: ServerResponse) => {
    v2Answer(res, req, '/v2', ctx).json(200, serverMetadata());
  };
  http.route('GET', '/v2', server);
  http.route('GET', '/v2/', server);
  http.route('GET', '/v2/health/live', (req, res) => {
    v2Answer(res, req, '/v2/health', ctx).json(200, { live: true });
  });
  http.route('GET', '/v2/health/ready', (req, res) => {
    const answer = v2Answer(res, req, '/v2/health', ctx);
    void ready().then((ok) => answer.json(ok ? 200 : 503, { ready: ok }));
  });
  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    http.route('GET', base, (req, res) => metadata(ctx, req, res));
    http.route('GET', `${base}/ready`, (req, res) => readiness(ctx, req, res));
    http.route('POST', `${base}/infer`, (req, res) => infer(ctx, req, res));
  }
  http.route('ANY', '/v2/*', (req, res) => {
    v2Answer(res, req, 'other', ctx).error('NOT_FOUND', undefined, { path: req.path.slice(0, 200) });
  });
}
