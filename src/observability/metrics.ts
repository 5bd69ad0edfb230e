/**
 * Prometheus metrics (prom-client). Every front end and model host owns one Registry (never the global one: a
 * test or `npm start` runs several components in one process). Each pushes its snapshot to Redis and any front
 * end's GET /metrics answers the sum over all live processes (see metrics-publisher.ts), so per-process labels
 * are deliberately absent: series from different processes with equal labels add up.
 */
import type { Route } from '../http/route-labels.ts';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const METRIC_PREFIX = 'classify_';

/** Seconds; from a cached 1 ms answer to the default 10 s deadline. */
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STAGE_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];

export type Component = 'frontend' | 'model-host';

function common(registry: Registry, component: Component) {
  const redisErrors = new Counter({
    name: `${METRIC_PREFIX}redis_errors_total`,
    help: 'Redis connection errors and failed Redis commands, by component.',
    labelNames: ['component'] as const,
    registers: [registry],
  }).labels(component);
  redisErrors.inc(0); // exported as 0 from the start, so rate() and alerts see the series
  return { redisErrors };
}

export class FrontendMetrics {
  readonly registry = new Registry();
  readonly redisErrors;
  readonly requests: Counter<'route' | 'status' | 'protocol'>;
  readonly duration: Histogram<'route' | 'protocol'>;
  readonly images: Counter<'model' | 'outcome'>;
  readonly imagesPerRequest: Histogram;
  readonly inFlight: Gauge;
  readonly keyRequests: Counter<'key' | 'route' | 'status' | 'protocol'>;
  readonly cache: ResponseCacheMetrics;

  constructor(pendingCount: () => number) {
    const registers = [this.registry];
    this.redisErrors = common(this.registry, 'frontend').redisErrors;
    this.requests = new Counter({
      name: `${METRIC_PREFIX}http_requests_total`,
      help: 'Requests answered, by route and status (499: the client went away before the answer); gRPC calls count under their REST route with the status REST answers for the same outcome, and protocol="grpc".',
      labelNames: ['route', 'status', 'protocol'] as const,
      registers,
    });
    this.duration = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'End-to-end latency in the front end, from the request line to the last byte written, by route.',
      labelNames: ['route', 'protocol'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.images = new Counter({
      name: `${METRIC_PREFIX}images_total`,
      help: 'Images queued through POST /predict or /v2 infer, by model and outcome (ok or the error code).',
      labelNames: ['model', 'outcome'] as const,
      registers,
    });
    this.imagesPerRequest = new Histogram({
      name: `${METRIC_PREFIX}images_per_request`,
      help: 'Images carried by one POST /predict that reached the queue.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.inFlight = new Gauge({
      name: `${METRIC_PREFIX}frontend_in_flight`,
      help: 'Images the front ends are waiting on (queued or being processed), summed over front ends.',
      registers,
      collect() {
        this.set(pendingCount());
      },
    });
    this.keyRequests = new Counter({
      name: `${METRIC_PREFIX}key_requests_total`,
      help: "Requests made with an API key, by the key's name (never the key), route and status.",
      labelNames: ['key', 'route', 'status', 'protocol'] as const,
      registers,
    });
    this.cache = responseCacheMetrics(this.registry);
  }

  /**
   * Records one answered request; `keyName` when it presented a known API key. HTTP series carry no protocol
   * label (as before gRPC existed, so dashboards keep working); gRPC's carry protocol="grpc".
   */
  observe(route: Route, status: number, ms: number, keyName?: string, protocol?: 'grpc'): void {
    const labels = { route, ...(protocol !== undefined && { protocol }) };
    this.requests.inc({ route, status: String(status), ...(protocol !== undefined && { protocol }) });
    this.duration.observe(labels, ms / 1000);
    if (keyName !== undefined) this.keyRequests.inc({ key: keyName, ...labels, status: String(status) });
  }
}

export type ResponseCacheMetrics = ReturnType<typeof responseCacheMetrics>;

/** The response cache's counters, per image looked up (src/frontend/response-cache.ts). */
function responseCacheMetrics(registry: Registry) {
  const counter = (name: string, help: string) =>
    new Counter({ name: `${METRIC_PREFIX}response_cache_${name}`, help, labelNames: ['model'], registers: [registry] });
  return {
    hits: counter('hits_total', 'Images answered from the response cache, with no model host involved, by model.'),
    misses: counter('misses_total', 'Images looked up in the response cache and not found (or unreadable), by model.'),
    errors: counter(
      'errors_total',
      'Response cache commands Redis failed (each lookup then counted a miss), by model.',
    ),
    storedBytes: counter(
      'stored_bytes_total',
      'Bytes of the response cache entries written, as counted against the bound, by model.',
    ),
    evictions: counter(
      'evictions_total',
      'Entries removed before their TTL to keep the response cache within its bound, by model.',
    ),
  };
}

export class HostMetrics {
  readonly registry = new Registry();
  readonly redisErrors;
  readonly batchSize: Histogram<'model'>;
  readonly inference: Histogram<'model'>;
  readonly forming: Histogram<'model'>;
  readonly preprocess: Histogram<'model' | 'outcome'>;
  readonly claimed: Counter<'model'>;
  readonly inFlight: Gauge;
  readonly modelInfo: Gauge<'model' | 'engine' | 'backend' | 'format'>;

  constructor(inFlight: () => number) {
    const registers = [this.registry];
    const labelNames = ['model'] as const;
    this.redisErrors = common(this.registry, 'model-host').redisErrors;
    this.batchSize = new Histogram({
      name: `${METRIC_PREFIX}batch_size`,
      help: 'Images per batch run by the engine (formed by the dynamic batcher), by model.',
      labelNames,
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.inference = new Histogram({
      name: `${METRIC_PREFIX}inference_duration_seconds`,
      help: 'Engine time of one batch, by model.',
      labelNames,
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.forming = new Histogram({
      name: `${METRIC_PREFIX}batch_forming_duration_seconds`,
      help: "Time from a batch's first request to the start of its inference, by model.",
      labelNames,
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.preprocess = new Histogram({
      name: `${METRIC_PREFIX}preprocess_duration_seconds`,
      help: 'Decode + resize + normalise time of one image (or copy of one tensor), by model and outcome (ok / error).',
      labelNames: ['model', 'outcome'] as const,
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.claimed = new Counter({
      name: `${METRIC_PREFIX}requests_reclaimed_total`,
      help: 'Requests re-claimed from a model host that took them and never acknowledged them, by model.',
      labelNames,
      registers,
    });
    // Summed across hosts, so the value is the number of live hosts serving that model on that engine.
    this.modelInfo = new Gauge({
      name: `${METRIC_PREFIX}model_host_info`,
      help: 'Model hosts by model, engine (onnx / tfjs), backend or execution provider, and model format.',
      labelNames: ['model', 'engine', 'backend', 'format'] as const,
      registers,
    });
    this.inFlight = new Gauge({
      name: `${METRIC_PREFIX}host_in_flight`,
      help: 'Requests held by model hosts (in batch slots), summed over hosts.',
      registers,
      collect() {
        this.set(inFlight());
      },
    });
  }

  /** Called once per served model when its engine is loaded. */
  addModel(model: string, engine: { engine: string; backend: string; format: string }): void {
    this.modelInfo.labels(model, engine.engine, engine.backend, engine.format).set(1);
    this.claimed.labels(model).inc(0);
  }

  onBatch(model: string, stats: { size: number; inferenceMs: number; formingMs: number }): void {
    this.batchSize.labels(model).observe(stats.size);
    this.inference.labels(model).observe(stats.inferenceMs / 1000);
    this.forming.labels(model).observe(stats.formingMs / 1000);
  }

  onPreprocess(model: string, ms: number, ok: boolean): void {
    this.preprocess.labels(model, ok ? 'ok' : 'error').observe(ms / 1000);
  }
}
