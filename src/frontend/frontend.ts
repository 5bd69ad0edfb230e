/**
 * A front-end process: the HTTP server (uWS or node:http, http/select.ts), its Redis connections (one for commands, one blocking for replies),
 * and an ordered, idempotent close that stops accepting, lets in-flight requests finish, then disconnects.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import {
  BLOCKING_READ_MS,
  connectRedis,
  deadConnectionOptions,
  whenReady,
  type RedisTarget,
} from '../redis/connect.ts';
import { keysFor } from '../wire/keys.ts';
import { openRepository } from '../model/repository.ts';
import { SERVED_BY } from '../http/respond.ts';
import { PendingRequests } from './pending.ts';
import { ReplyReader } from './reply-reader.ts';
import { readiness, registerRoutes } from './server.ts';
import { lingerLimits } from '../http/linger.ts';
import { serverContext } from './server-context.ts';
import { startGrpcServer } from '../grpc/grpc-server.ts';
import { answerHandlerError } from '../http/handler-error.ts';
import { createHttpServer } from '../http/select.ts';
import type { HttpServerKind } from '../http/types.ts';
import { FrontendMetrics } from '../observability/metrics.ts';
import { MetricsPublisher, scrapeDeployment } from '../observability/metrics-publisher.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAuth } from '../auth/auth.ts';
import { startAdminServer } from '../admin/admin-server.ts';
import { VersionView } from './version-routing.ts';
import { readQueueDepths } from './queue-depth.ts';
import { assertPortOurs, deploymentId } from './port-guard.ts';
import { hostIds } from '../registry/host-registry.ts';
import { versionedModelName } from '../wire/versions.ts';
import { runSteps } from '../lifecycle/steps.ts';
import { ResourceStack } from '../lifecycle/resource-stack.ts';
import { closeRedis } from '../redis/close.ts';
import { startTracing } from '../observability/tracing.ts';
import { ResponseCache } from './response-cache.ts';
import { responseCacheKeys } from '../wire/response-cache.ts';

/** How long a closing front end keeps serving requests on already-open connections (see close()). */
const DRAIN_LINGER_MS = 500;

export interface Frontend {
  readonly id: string;
  readonly port: number;
  /** The management API's port, when ADMIN_KEYS_FILE is set. */
  readonly adminPort: number | undefined;
  /** The Open Inference Protocol's gRPC port, unless GRPC_PORT=off. */
  readonly grpcPort: number | undefined;
  /** Which HTTP server runs this front end. */
  readonly httpServer: HttpServerKind;
  pendingCount(): number;
  /** Results discarded because nobody waited for them any more (duplicate, late, or client gone). */
  discardedResults(): number;
  /** Stops accepting, waits for in-flight requests (bounded by their deadline), disconnects. Idempotent. */
  close(): Promise<void>;
}

export async function startFrontend(config: Config, redisTarget: RedisTarget, log: Logger): Promise<Frontend> {
  const onStepFailure = (step: string, err: Error) =>
    log.warn({ err: err.message, step }, 'front end close step failed');
  // Everything this front end opens, closed last-first: by close() after draining, by a failed start at once.
  const resources = new ResourceStack(onStepFailure);
  try {
    return await openFrontend(config, redisTarget, log, resources, onStepFailure);
  } catch (err) {
    // A failed start (Redis unreachable, port in use, ...) releases everything it had opened.
    await resources.close();
    throw err;
  }
}

async function openFrontend(
  config: Config,
  redisTarget: RedisTarget,
  log: Logger,
  resources: ResourceStack,
  onStepFailure: (step: string, err: Error) => void,
): Promise<Frontend> {
  // First, before any connection exists: with HTTP_SERVER=uws where uWS does not load this refuses.
  const http = createHttpServer(
    config.HTTP_SERVER,
    {
      headersTimeoutMs: config.BODY_TIMEOUT_MS,
      linger: lingerLimits(config),
      onHandlerError: answerHandlerError(() => ({ log, metrics })),
    },
    (line) => log.warn(line),
  );
  resources.defer('http server', () => http.closeAll());
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = keysFor(config.KEY_PREFIX, config.REQUEST_SHARDS);
  // The front end reads only the models' metadata.json: names for routing, inputs and labels for /v2.
  const repository = await openRepository(config);
  // Also before any connection: a bad key file stops the start.
  const auth = resources.use('auth', startAuth(config, log), (a) => a.close());
  // Loads the OpenTelemetry SDK only when an exporter is configured.
  const tracer = await startTracing(config, 'frontend', id);
  resources.defer('tracing', () => tracer?.shutdown());
  const redis = resources.use(
    'redis',
    connectRedis(redisTarget, `frontend:${id}`, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS)),
    closeRedis,
  );
  const blocking = resources.use(
    'redis (replies)',
    connectRedis(
      redisTarget,
      `frontend:${id}:replies`,
      log,
      deadConnectionOptions(config.REDIS_TIMEOUT_MS, BLOCKING_READ_MS),
    ),
    (c) => c.disconnect(),
  );
  const pending = new PendingRequests();
  const replyStream = keys.replies(id);
  const replies = new ReplyReader(blocking, replyStream, pending, log);
  let draining = false;
  const metrics = new FrontendMetrics(() => pending.size);
  for (const conn of [redis, blocking]) conn.on('error', () => metrics.redisErrors.inc());
  const metricsId = `frontend-${id}`;
  const metricsPublisher = new MetricsPublisher(
    redis,
    keys,
    metricsId,
    metrics.registry,
    config.METRICS_PUSH_MS,
    log,
    () => metrics.redisErrors.inc(),
  );
  resources.defer('metrics', () => metricsPublisher.stop());
  const versions = new VersionView(redis, keys, config.VERSION_REFRESH_MS, log, config.HOST_RESTART_GRACE_MS);

  await Promise.all([whenReady(redis), whenReady(blocking)]);
  await replies.start();
  resources.defer('reply reader', () => replies.stop());
  await versions.start();
  resources.defer('version view', () => versions.stop());
  const deployment = deploymentId(config.KEY_PREFIX, redisTarget);
  const ctx = serverContext({
    deployment,
    config,
    redis,
    keys,
    replyStream,
    pending,
    log,
    metrics,
    isDraining: () => draining,
    repository,
    versions,
    scrapeMetrics: () =>
      scrapeDeployment(redis, keys, { id: metricsId, registry: metrics.registry }, async () => {
        // Every version a host reports (any state), so a versioned model's queues are seen too.
        const serving = repository.models.flatMap((m) =>
          versions.knownVersions(m.name).map((v) => versionedModelName(m.name, v)),
        );
        const [live, queues] = await Promise.all([hostIds(redis, keys), readQueueDepths(redis, keys, serving)]);
        return { liveHosts: live.length, queues };
      }),
    onRedisError: () => metrics.redisErrors.inc(),
    responseCache: ResponseCache.wanted(config, repository.models)
      ? new ResponseCache(redis, responseCacheKeys(config.KEY_PREFIX), config, metrics.cache, log)
      : undefined,
    tracer,
    inferenceGuard: auth.inference,
    metadataGuard: auth.metadata,
    metricsGuard: auth.metrics,
  });
  registerRoutes(http, ctx);
  // Refuses a port another deployment serves (SO_REUSEPORT would share it silently).
  await assertPortOurs(config.HOST, config.PORT, deployment);
  const port = await http.listen(config.HOST, config.PORT);
  const grpc = await startGrpcServer({ ...ctx, ready: async () => (await readiness(ctx, http)).ready });
  resources.defer('grpc server', () => grpc?.close());
  const admin = auth.admin
    ? await startAdminServer({ config, redis, keys, log, metrics, guard: auth.admin })
    : undefined;
  resources.defer('admin server', () => admin?.close());
  log.info(
    {
      frontendId: id,
      servedBy: SERVED_BY,
      host: config.HOST,
      port,
      adminPort: admin?.port,
      grpcPort: grpc?.port,
      httpServer: http.kind,
      httpServerDetail: http.detail,
      models: repository.models.map((m) => m.name),
      defaultModel: repository.defaultModel,
    },
    'front end listening',
  );
  metricsPublisher.start();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await runSteps(
        [
          ['stop accepting', () => http.stopAccepting()],
          // gRPC clients get a GOAWAY: new calls go elsewhere, calls in progress may take until their deadline.
          ['stop accepting (grpc)', () => grpc?.stopAccepting(DRAIN_LINGER_MS + config.REQUEST_TIMEOUT_MS)],
          ['admin server', () => admin?.close()],
        ],
        onStepFailure,
      );
      // Requests still arriving on kept-alive connections (a proxy's pooled ones) are served for a short while,
      // each answer closing its connection; refusing them at once (503 SHUTTING_DOWN) would fail one request per
      // pooled connection. Then draining: new requests are refused and /readyz reports not ready.
      http.closeConnectionsAfterResponse();
      await sleep(DRAIN_LINGER_MS);
      draining = true;
      // In-flight requests end by result or deadline; REQUEST_TIMEOUT_MS bounds this wait.
      await pending.whenEmpty();
      await resources.close();
      log.info({ frontendId: id }, 'front end closed');
    })();
    return closing;
  };

  return {
    id,
    port,
    adminPort: admin?.port,
    grpcPort: grpc?.port,
    httpServer: http.kind,
    pendingCount: () => pending.size,
    discardedResults: () => replies.discarded,
    close,
  };
}
