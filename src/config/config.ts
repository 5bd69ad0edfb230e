/**
 * The service's settings (the original's settings.py): one schema with units in the names, read from the
 * environment once, every problem reported together naming the variable, then frozen.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { issueLines } from './schema-issues.ts';
import { tracingSettings } from './tracing-settings.ts';

const SECOND = 1000;
const MiB = 1024 * 1024;

export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const cores = availableParallelism();

/** Largest `?topk=` a request may ask for (the API, its OpenAPI document and TOPK_DEFAULT's bound). */
export const TOPK_MAX = 1000;
/** Time an entry point gives its graceful shutdown beyond REQUEST_TIMEOUT_MS before it exits on its own. */
export const SHUTDOWN_GRACE_EXTRA_MS = 5000;
export const shutdownGraceMs = (config: { REQUEST_TIMEOUT_MS: number }): number =>
  config.REQUEST_TIMEOUT_MS + SHUTDOWN_GRACE_EXTRA_MS;

/** Decode threads per model host when PREPROCESS_THREADS is unset: its share of the cores, less its inference thread. */
export function defaultPreprocessThreads(modelHostsOnMachine = 1): number {
  return Math.max(1, Math.floor(cores / modelHostsOnMachine) - 1);
}

const schema = z.object({
  /** Front end: address and port uWS listens on. */
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(8080),
  /**
   * Front end: port of the Open Inference Protocol over gRPC (Triton's 8001), on HOST; `off`: no gRPC. A front end
   * listens on GRPC_PORT + FRONTEND_INDEX, so several on one machine each have their own (prod:up puts nginx before them).
   */
  GRPC_PORT: z.union([z.literal('off'), int(0, 65535)]).default(8001),
  /** This front end's index among the front ends of its machine (prod:up has PM2 set it: 0, 1, ...). */
  FRONTEND_INDEX: int(0, 1023).default(0),
  /** gRPC calls one client connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  GRPC_MAX_CONCURRENT_STREAMS: int(1, 65_535).default(256),
  /**
   * Front end's HTTP server: auto (uWS where its binary loads, else node:http with one warning line saying why),
   * uws (uWS or refuse to start), node (Node's http module).
   */
  HTTP_SERVER: z.enum(['auto', 'uws', 'node']).default('auto'),
  /** Redis; unset in `npm start` means: start a private redis-server on loopback. */
  REDIS_URL: z
    .string()
    .regex(/^(rediss?|unix):\/\//, 'must start with redis://, rediss:// or unix://')
    .optional(),
  /** Redis Cluster seed nodes (any one suffices): `redis[s]://[[user]:password@]host:port,host:port,...`. */
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(
      /^((rediss?:\/\/)?[^,\s]+:\d+)(,\s*(rediss?:\/\/)?[^,\s]+:\d+)*$/,
      'host:port list, the first may be a redis:// or rediss:// URL with credentials',
    )
    .optional(),
  /** Sentinels watching the primary named REDIS_SENTINEL_MASTER, in the same list form (credentials: the primary's). */
  REDIS_SENTINELS: z
    .string()
    .regex(
      /^((rediss?:\/\/)?[^,\s]+:\d+)(,\s*(rediss?:\/\/)?[^,\s]+:\d+)*$/,
      'host:port list, the first may be a redis:// or rediss:// URL with credentials',
    )
    .optional(),
  REDIS_SENTINEL_MASTER: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('mymaster'),
  /** Password of the sentinels themselves, when they require one (requirepass in sentinel.conf). */
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  /** A Redis connection with commands outstanding and no reply this long is declared dead and reconnected. */
  REDIS_TIMEOUT_MS: int(100, 60 * SECOND).default(2 * SECOND),
  /** Request streams per deployment, each in its own cluster slot; 1 is the single-stream layout. */
  REQUEST_SHARDS: int(1, 64).default(1),
  /** Every key lives under {KEY_PREFIX}: hash-tagged so one deployment's keys share a Redis Cluster slot. */
  KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default('cls'),
  /** One directory per model; the directory name is the model's name (src/model/repository.ts). */
  MODEL_REPOSITORY: z.string().min(1).default('models'),
  /** A single model directory: a repository of one model (wins over MODEL_REPOSITORY when set). */
  MODEL_DIR: z.string().min(1).optional(),
  /** The name MODEL_DIR's model serves under (default: its directory's name); KServe passes its InferenceService's. */
  MODEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a model name: letters, digits, _ . - (at most 64)')
    .optional(),
  /** The model /predict uses without ?model=; unset: `default` if the repository has it, else the first by name. */
  DEFAULT_MODEL: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a model (directory) name')
    .optional(),
  /** Comma-separated models this process serves (model host) or the deployment serves (front end); unset: all. */
  MODELS: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}(,[A-Za-z0-9_.-]{1,64})*$/, 'comma-separated model names')
    .optional(),
  /** onnx when the model has one and onnxruntime-node loads, else tfjs. */
  ENGINE: z.enum(['auto', 'onnx', 'tfjs']).default('auto'),
  TFJS_BACKEND: z.enum(['', 'tensorflow', 'wasm', 'cpu']).default(''),
  INTRA_OP_THREADS: int(1, 64).default(1),
  MAX_BATCH: int(1, 256).default(8),
  MAX_BATCH_DELAY_MS: int(0, 10 * SECOND).default(5),
  /** Batch buffers per model host: one fills while another runs. */
  BATCH_BUFFERS: int(2, 8).default(3),
  /** Unset: defaultPreprocessThreads() for this process's deployment (one host for `npm start`). */
  PREPROCESS_THREADS: int(1, 64).optional(),
  /** One image's decode is abandoned after this (from its start in a worker): 422 IMAGE_TOO_COMPLEX. */
  DECODE_TIMEOUT_MS: int(100, 10 * 60 * SECOND).default(3 * SECOND),
  /** A closed batch runs its decoded images after waiting this long for the rest (which run in a later pass). */
  STRAGGLER_WAIT_MS: int(0, 60 * SECOND).default(250),
  /** Spare decode threads for images decoding longer than STRAGGLER_WAIT_MS, so they take no thread from others. */
  STRAGGLER_THREADS: int(0, 64).default(2),
  BODY_LIMIT_BYTES: int(1024, 512 * MiB).default(10 * MiB),
  /**
   * Bytes one front end may hold in bodies being received (each reserves its Content-Length, or BODY_LIMIT_BYTES
   * when chunked): 503 OVERLOADED beyond it. 128 MiB: a dozen of the largest bodies, hundreds of photos.
   */
  MAX_INFLIGHT_BODY_BYTES: int(MiB, 64 * 1024 * MiB).default(128 * MiB),
  /**
   * Free request-body buffers a front end keeps for later requests (0: none kept): a new image-sized buffer per
   * request is external memory that drives V8's major collections. Bodies up to 8 MiB are pooled.
   */
  BODY_POOL_BYTES: int(0, 64 * 1024 * MiB).default(32 * MiB),
  /** A body that has not fully arrived by then is cut off. */
  BODY_TIMEOUT_MS: int(100, 10 * 60 * SECOND).default(10 * SECOND),
  /**
   * An answer that closes the connection while the client is still sending its body (413, 401, 503, ...) is followed
   * by nginx's lingering close: no more writes, and up to this many body bytes read and thrown away, so that the
   * client reads the answer instead of a reset. 32 MiB: three times the default BODY_LIMIT_BYTES.
   */
  LINGER_MAX_BYTES: int(0, 1024 * MiB).default(32 * MiB),
  /** ... for at most this long; then the connection is cut. */
  LINGER_TIMEOUT_MS: int(0, 60 * SECOND).default(5 * SECOND),
  /**
   * ... and ends early once no byte arrived for this long (nginx's lingering_timeout). uWS answers only after
   * lingering, so a client that stopped sending waits this long for its answer there.
   */
  LINGER_IDLE_MS: int(0, 60 * SECOND).default(1 * SECOND),
  /** Decompression-bomb guard: images declaring more pixels than this are refused before decoding. */
  MAX_INPUT_PIXELS: int(1, 1_000_000_000).default(40_000_000),
  /**
   * Decode-work guard: JPEGs with more scans are refused (422) before decoding. Encoders write 1 (baseline) to about
   * 10–20 (progressive); each scan can cost a walk over every block of the image, so 100 bounds a 40-MP decode.
   */
  MAX_JPEG_SCANS: int(1, 10_000).default(100),
  /** Decode large JPEGs at 1/2, 1/4 or 1/8 in the DCT domain while the result still covers the model input. */
  JPEG_DCT_SCALING: z.enum(['off', 'on']).default('off'),
  /** Deadline of a request from its arrival; 504 after it. */
  REQUEST_TIMEOUT_MS: int(100, 10 * 60 * SECOND).default(10 * SECOND),
  /** Admission control: requests queued or in flight across the deployment before 503 + Retry-After. */
  MAX_QUEUE: int(1, 1_000_000).default(1024),
  /**
   * Admission control in bytes: the request streams' memory in Redis. 256 MiB holds 1,024 images of 256 KiB, or 20
   * of the largest bodies; the private Redis gets maxmemory 1.5 × this + 64 MiB (src/redis/embedded.ts).
   */
  MAX_QUEUE_BYTES: int(MiB, 64 * 1024 * MiB).default(256 * MiB),
  TOPK_DEFAULT: int(1, TOPK_MAX).default(5),
  /** Images one POST /predict may carry (repeated multipart field "image"); 1 restores one image per request. */
  MAX_IMAGES_PER_REQUEST: int(1, 256).default(16),
  /** Multipart parts of any name in one body, refused with 400 while parsing: room for the images and a few fields. */
  MAX_MULTIPART_PARTS: int(1, 10_000).default(64),
  /** How often each process pushes its metrics snapshot to Redis for the deployment-wide GET /metrics. */
  METRICS_PUSH_MS: int(100, 60 * SECOND).default(1 * SECOND),
  /**
   * A delivered-but-unacked request idle this long is re-claimed from its (presumed dead) model host. Below
   * REQUEST_TIMEOUT_MS so a dead host's requests can still be answered; above the longest a live host holds one.
   */
  CLAIM_IDLE_MS: int(1000, 10 * 60 * SECOND).default(5 * SECOND),
  HEARTBEAT_MS: int(100, 60 * SECOND).default(1 * SECOND),
  /**
   * A model whose hosts all stopped less than this ago (their heartbeats expired: killed, crashed, restarting)
   * still admits requests: they wait in the stream for the restarted host, within their own deadline. After it,
   * or for a model no host ever served, 503 NOT_READY at once. At most REQUEST_TIMEOUT_MS; unset: the smaller of
   * HOST_RESTART_GRACE_DEFAULT_MS and REQUEST_TIMEOUT_MS.
   */
  HOST_RESTART_GRACE_MS: int(0, 10 * 60 * SECOND).optional(),
  /** Reply streams of vanished front ends expire after this. */
  REPLY_TTL_S: int(1, 24 * 3600).default(60),
  /** API keys (`name:sha256hex` per line); unset: inference needs no key. Reloaded on SIGHUP and on change. */
  API_KEYS_FILE: z.string().min(1).optional(),
  /** Per-key token bucket on inference: requests per second (0: no limit) and burst. */
  KEY_RATE_LIMIT_RPS: z.coerce.number().min(0).max(1_000_000).default(0),
  KEY_RATE_BURST: int(1, 1_000_000).default(20),
  /**
   * Metadata and readiness GETs (/v1/models, /v2/models/..., gRPC ModelMetadata/ModelReady) with a key spend their
   * own bucket, never the inference one: requests per second (0: no limit) and burst.
   */
  KEY_METADATA_RATE_LIMIT_RPS: z.coerce.number().min(0).max(1_000_000).default(0),
  KEY_METADATA_RATE_BURST: int(1, 1_000_000).default(100),
  /** Bearer key GET /metrics requires; unset: /metrics is open (as /healthz). */
  METRICS_KEY: z
    .string()
    .regex(/^[A-Za-z0-9\-._~+/]{16,256}$/, '16-256 characters of A-Z a-z 0-9 - . _ ~ + /')
    .optional(),
  /** Model hosts re-read their model directories this often for new or removed versions (0: only on a load call). */
  REPOSITORY_POLL_S: int(0, 24 * 3600).default(0),
  /** After a new version is ready, the old one keeps serving this long, while front ends move unpinned traffic. */
  VERSION_SWITCH_GRACE_MS: int(0, 10 * 60 * SECOND).default(2 * SECOND),
  /** How often a front end re-reads which model versions the hosts have ready. */
  VERSION_REFRESH_MS: int(50, 60 * SECOND).default(250),
  /** Admin keys (`name:sha256hex` per line); set: the management API listens on ADMIN_HOST:ADMIN_PORT. */
  ADMIN_KEYS_FILE: z.string().min(1).optional(),
  ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  ADMIN_PORT: int(0, 65535).default(8081),
  /** How long a management load/unload waits for every model host's answer. */
  ADMIN_ACTION_TIMEOUT_MS: int(1 * SECOND, 30 * 60 * SECOND).default(120 * SECOND),
  /** A standalone model host's probe port on HOST (GET /livez, /readyz), for Kubernetes and containers; 0: none. */
  HOST_HEALTH_PORT: int(0, 65535).default(0),
  /** Response cache in Redis (docs/operability.md): on for every model; a model's config.json can override. */
  RESPONSE_CACHE: z.enum(['off', 'on']).default('off'),
  /** How long a cached answer lives (a model's config.json response_cache.ttl_s overrides it). */
  RESPONSE_CACHE_TTL_S: int(1, 30 * 24 * 3600).default(3600),
  /** The cache's bound: its entries, keys and index in Redis never hold more; the oldest entries go first. */
  RESPONSE_CACHE_MAX_BYTES: int(64 * 1024, 64 * 1024 * MiB).default(64 * MiB),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** OpenTelemetry tracing: the SDK's standard variables (tracing-settings.ts, docs/operability.md). */
  ...tracingSettings,
});

/** HOST_RESTART_GRACE_MS when unset (and REQUEST_TIMEOUT_MS is larger): PM2 restarts a host in 2-15 s (BENCHMARKS.md). */
export const HOST_RESTART_GRACE_DEFAULT_MS = 10 * SECOND;

export const serviceSchema = schema;
type Parsed = z.infer<typeof schema>;
/** The settings with every default resolved. */
export type Config = Readonly<
  Omit<Parsed, 'PREPROCESS_THREADS' | 'HOST_RESTART_GRACE_MS'> & {
    PREPROCESS_THREADS: number;
    HOST_RESTART_GRACE_MS: number;
  }
>;

/**
 * Validates the variables of `schema` in `env` (empty = unset); throws one Error listing every bad variable, so
 * the service, the production topology and nginx all stop with the same message.
 */
export function parseEnvironment<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const lines = issueLines(parsed.error, ([key]) => `  ${String(key)}=${JSON.stringify(input[String(key)])}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/**
 * The checks between variables and the defaults that depend on others, for the service's settings however they
 * were read (loadConfig, loadDeploymentConfig); throws listing every problem.
 */
export function resolveSettings(parsed: Parsed, preprocessThreads: number): Config {
  const problems: string[] = [];
  // Each shard's byte bound must hold a couple of the largest bodies, else those could never be queued.
  const shardBytes = Math.ceil(parsed.MAX_QUEUE_BYTES / parsed.REQUEST_SHARDS);
  if (shardBytes < 2 * parsed.BODY_LIMIT_BYTES)
    problems.push(
      `  MAX_QUEUE_BYTES=${JSON.stringify(String(parsed.MAX_QUEUE_BYTES))}: each of ` +
        `REQUEST_SHARDS=${parsed.REQUEST_SHARDS} shards gets ${shardBytes} bytes, less than 2 × BODY_LIMIT_BYTES (${parsed.BODY_LIMIT_BYTES})`,
    );
  // A request waits for a restarting host within its own deadline: a longer grace would only queue timeouts.
  if (parsed.HOST_RESTART_GRACE_MS !== undefined && parsed.HOST_RESTART_GRACE_MS > parsed.REQUEST_TIMEOUT_MS)
    problems.push(
      `  HOST_RESTART_GRACE_MS=${JSON.stringify(String(parsed.HOST_RESTART_GRACE_MS))}: more than ` +
        `REQUEST_TIMEOUT_MS (${parsed.REQUEST_TIMEOUT_MS}); requests queued for a restarting host wait at most their deadline`,
    );
  if (parsed.GRPC_PORT !== 'off' && parsed.GRPC_PORT !== 0 && parsed.GRPC_PORT + parsed.FRONTEND_INDEX > 65535)
    problems.push(
      `  GRPC_PORT=${JSON.stringify(String(parsed.GRPC_PORT))}: GRPC_PORT + FRONTEND_INDEX (${parsed.FRONTEND_INDEX}) is past 65535`,
    );
  if (problems.length > 0) throw new Error(`invalid configuration:\n${problems.join('\n')}`);
  return Object.freeze({
    ...parsed,
    PREPROCESS_THREADS: preprocessThreads,
    HOST_RESTART_GRACE_MS:
      parsed.HOST_RESTART_GRACE_MS ?? Math.min(HOST_RESTART_GRACE_DEFAULT_MS, parsed.REQUEST_TIMEOUT_MS),
  });
}

/** Parses the given environment (process.env by default); throws one Error listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = parseEnvironment(schema, env);
  return resolveSettings(parsed, parsed.PREPROCESS_THREADS ?? defaultPreprocessThreads());
}

/** The variables and their defaults, for docs/configuration.md's table and `--help` output. */
export const configKeys = Object.keys(schema.shape);
