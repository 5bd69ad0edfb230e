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
import { PACKAGE } from '../../config/package-info.ts';
import type { Route } from '../../observability/metrics.ts';
import { lazyChild } from '../../observability/logger.ts';
import type { ErrorCode } from '../../wire/errors.ts';
import type { RepositoryModel } from '../../model/repository.ts';
import { authorize } from '../authorize.ts';
import { queueImages } from '../enqueue-images.ts';
import type { HttpServer, IncomingRequest, ServerResponse } from '../../http/types.ts';
import { readHosts } from '../../registry/host-registry.ts';
import { Answer } from '../../http/respond.ts';
import { answerFailure, claimBody } from '../request-body.ts';
import type { ServerContext } from '../server-context.ts';
import { INPUT_NAME, OUTPUT_NAME, parseInferRequest } from './infer-request.ts';
import { inferResponse, MODEL_VERSION } from './infer-response.ts';
import { chooseServing, VERSION_PARAM, type VersionChoice } from '../version-routing.ts';

export const SERVER_NAME = 'image-classify-serving';
export const SERVER_VERSION = PACKAGE.version;
export const EXTENSIONS = ['binary_tensor_data', 'classification'];

function v2Answer(res: ServerResponse, req: IncomingRequest, route: Route, ctx: ServerContext): Answer {
  const answer = new Answer(res, req, route, ctx);
  answer.errorShape = 'protocol';
  return answer;
}

/** The model named in the path, if served here and the version (when given) is ours; else answered 404. */
function modelOf(ctx: ServerContext, req: IncomingRequest, answer: Answer): RepositoryModel | undefined {
  const name = decodeURIComponent(req.params.name ?? '');
  const model = ctx.repository.get(name);
  answer.annotate({ model: model?.name });
  if (!model) {
    answer.error('MODEL_NOT_FOUND', ctx.repository.notFound(name));
    return undefined;
  }
  const version = req.params.version;
  if (version !== undefined && !VERSION_PARAM.test(version)) {
    answer.error('MODEL_NOT_FOUND', `Model ${model.name} has no version "${version.slice(0, 16)}".`);
    return undefined;
  }
  return model;
}

/** The version a request on this model goes to: the pinned one, else the newest ready; undefined when answered. */
function versionOf(
  ctx: ServerContext,
  req: IncomingRequest,
  answer: Answer,
  model: RepositoryModel,
): (VersionChoice & { ok: true }) | undefined {
  const pinned = req.params.version === undefined ? undefined : Number(req.params.version);
  const choice = chooseServing(ctx.versions, model.name, pinned);
  if (!choice.ok) {
    answer.error(choice.code, choice.message);
    return undefined;
  }
  answer.annotate({ version: choice.version });
  return choice;
}

/** Input dims without N, in the model's declared layout. */
function inputDims(model: RepositoryModel): number[] {
  const { height, width, channels, layout } = model.meta.input;
  return layout === 'NCHW' ? [channels, height, width] : [height, width, channels];
}

async function liveModels(
  ctx: ServerContext,
): Promise<Map<string, { engine: string; backend: string; format: string }>> {
  const live = new Map<string, { engine: string; backend: string; format: string }>();
  for (const host of await readHosts(ctx.redis, ctx.keys)) {
    for (const m of host.models) live.set(m.name, { engine: m.engine, backend: m.backend, format: m.format });
  }
  return live;
}

/** The platform string ("<project>_<format>"): onnxruntime_onnx, or tensorflowjs_layers / tensorflowjs_graph. */
function platform(engine: { engine: string; format: string } | undefined, model: RepositoryModel): string {
  if (engine) return engine.engine === 'onnx' ? 'onnxruntime_onnx' : `tensorflowjs_${engine.format}`;
  return model.meta.onnx ? 'onnxruntime_onnx' : `tensorflowjs_${model.meta.tfjs?.format ?? 'layers'}`;
}

function metadata(ctx: ServerContext, req: IncomingRequest, res: ServerResponse): void {
  const answer = v2Answer(res, req, '/v2/models', ctx);
  // Model metadata names the models: API keys guard it as they guard GET /v1/models.
  if (!authorize(ctx.inferenceGuard, req, answer)) return;
  const model = modelOf(ctx, req, answer);
  if (!model) return;
  // A pinned version must exist (404 otherwise), as for infer.
  if (req.params.version !== undefined && !versionOf(ctx, req, answer, model)) return;
  void liveModels(ctx)
    .catch(() => new Map())
    .then((live) => {
      const engine = live.get(model.name);
      answer.json(200, {
        name: model.name,
        versions: ctx.versions?.readyVersions(model.name).map(String) ?? [MODEL_VERSION],
        platform: platform(engine, model),
        inputs: [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, ...inputDims(model)] }],
        outputs: [{ name: OUTPUT_NAME, datatype: 'FP32', shape: [-1, model.meta.labels.length] }],
        // The protocol's properties are strings: the engine serving it now, and what else the input accepts.
        properties: {
          engine: engine?.engine ?? 'none live',
          backend: engine?.backend ?? '',
          format: engine?.format ?? model.meta.tfjs?.format ?? 'onnx',
          title: model.meta.name,
          labels: model.meta.labels.join(','),
          input_layout: model.meta.input.layout,
          also_accepts: `${INPUT_NAME} as BYTES [N]: encoded images (binary data extension)`,
        },
      });
    });
}

function modelReady(ctx: ServerContext, req: IncomingRequest, res: ServerResponse): void {
  const answer = v2Answer(res, req, '/v2/health', ctx);
  if (!authorize(ctx.inferenceGuard, req, answer)) return;
  const model = modelOf(ctx, req, answer);
  if (!model) return;
  const pinned = req.params.version === undefined ? undefined : Number(req.params.version);
  const versionReady = ctx.versions ? ctx.versions.choose(model.name, pinned).ok : true;
  void liveModels(ctx).then(
    (live) => {
      const ready = live.has(model.name) && versionReady;
      answer.json(ready ? 200 : 503, { name: model.name, ready });
    },
    () => answer.error('NOT_READY', 'Redis is unreachable.'),
  );
}

function infer(ctx: ServerContext, req: IncomingRequest, res: ServerResponse): void {
  const answer = v2Answer(res, req, '/v2/infer', ctx);
  if (ctx.isDraining()) {
    answer.closeConnection = true;
    answer.error('SHUTTING_DOWN');
    return;
  }
  if (!authorize(ctx.inferenceGuard, req, answer)) return;
  const model = modelOf(ctx, req, answer);
  if (!model) return;
  const chosen = versionOf(ctx, req, answer, model);
  if (!chosen) return;
  const body = claimBody(ctx, req, res, answer);
  if (!body) return;
  const log = lazyChild(ctx.log, { reqId: answer.id, model: model.name });
  const labels = model.meta.labels;

  void (async () => {
    const parsed = parseInferRequest(
      await body,
      req.headers['inference-header-content-length'],
      { dims: inputDims(model), classes: labels.length },
      ctx.config.MAX_IMAGES_PER_REQUEST,
    );
    if (!parsed.ok) return answer.error(parsed.code, parsed.message);
    const { items, output, id, timeoutMs } = parsed.request;
    // The request's deadline, or the client's parameters.timeout when it ends first.
    const deadline = Math.min(
      answer.startedAt + ctx.config.REQUEST_TIMEOUT_MS,
      timeoutMs === undefined ? Infinity : answer.startedAt + timeoutMs,
    );
    const queued = await queueImages(ctx, {
      items,
      model: chosen.serving,
      topk: 1,
      scores: true,
      deadline,
      cache: ctx.responseCache?.scope(model, chosen.version),
      log,
      onAbort: (l) => res.onAbort(l),
    });
    if (!queued) return;
    // The protocol has no per-element errors: the first failed element fails the request, with its status.
    const failed = queued.results.findIndex((r) => !r.success);
    if (failed >= 0) {
      const r = queued.results[failed]!;
      const { code, message } = r.success ? { code: 'INTERNAL' as ErrorCode, message: '' } : r.error;
      return answer.error(code, items.length > 1 ? `element ${failed}: ${message}` : message, {
        failedElement: failed,
      });
    }
    const rows = queued.scores.map((s) => s ?? new Uint8Array(labels.length * 4));
    const out = inferResponse(model.name, labels, rows, output, id, String(chosen.version));
    const batchSizes = queued.timings.flatMap((t) => (t ? [t.batchSize] : []));
    const logged = { elements: items.length, batchSizes, cacheHits: queued.cacheHits };
    answer.send(200, out.contentType, out.body, logged, out.headers);
  })().catch((err: Error) => answerFailure(ctx, answer, err, log, 'infer'));
}

export function registerV2Routes(http: HttpServer, ctx: ServerContext, ready: () => Promise<boolean>): void {
  const serverMetadata = (req: IncomingRequest, res: ServerResponse) => {
    v2Answer(res, req, '/v2', ctx).json(200, { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS });
  };
  http.route('GET', '/v2', serverMetadata);
  http.route('GET', '/v2/', serverMetadata);
  http.route('GET', '/v2/health/live', (req, res) => {
    v2Answer(res, req, '/v2/health', ctx).json(200, { live: true });
  });
  http.route('GET', '/v2/health/ready', (req, res) => {
    const answer = v2Answer(res, req, '/v2/health', ctx);
    void ready().then((ok) => answer.json(ok ? 200 : 503, { ready: ok }));
  });
  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    http.route('GET', base, (req, res) => metadata(ctx, req, res));
    http.route('GET', `${base}/ready`, (req, res) => modelReady(ctx, req, res));
    http.route('POST', `${base}/infer`, (req, res) => infer(ctx, req, res));
  }
  http.route('ANY', '/v2/*', (req, res) => {
    v2Answer(res, req, 'other', ctx).error('NOT_FOUND', undefined, { path: req.path.slice(0, 200) });
  });
}
