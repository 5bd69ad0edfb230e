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
import { startGrpcServer, type GrpcFrontend } from '../grpc/grpc-server.ts';
import { answerHandlerError } from '../http/handler-error.ts';
import { createHttpServer } from '../http/select.ts';
import type { HttpServerKind } from '../http/types.ts';
import { FrontendMetrics } from '../observability/metrics.ts';
import { MetricsPublisher, scrapeDeployment } from '../observability/metrics-publisher.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAuth } from '../auth/auth.ts';
import { startAdminServer, type AdminServer } from '../admin/admin-server.ts';
import { VersionView } from './version-routing.ts';
import { readQueueDepths } from './queue-depth.ts';
import { assertPortOurs, deploymentId } from './port-guard.ts';
import { hostIds } from '../registry/host-registry.ts';
import { versionedModelName } from '../wire/versions.ts';
import { runSteps, type Step } from '../lifecycle/steps.ts';
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
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = keysFor(config.KEY_PREFIX, config.REQUEST_SHARDS);
  // The front end reads only the models' metadata.json: names for routing, inputs and labels for /v2.
  const repository = await openRepository(config);
  // Also before any connection: a bad key file stops the start.
  const auth = startAuth(config, log);
  // Loads the OpenTelemetry SDK only when an exporter is configured.
  const tracer = await startTracing(config, 'frontend', id);
  const redis = connectRedis(redisTarget, `frontend:${id}`, log, deadConnectionOptions(config.REDIS_TIMEOUT_MS));
  const blocking = connectRedis(
    redisTarget,
    `frontend:${id}:replies`,
    log,
    deadConnectionOptions(config.REDIS_TIMEOUT_MS, BLOCKING_READ_MS),
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
  let admin: AdminServer | undefined;
  let grpc: GrpcFrontend | undefined;
  const versions = new VersionView(redis, keys, config.VERSION_REFRESH_MS, log, config.HOST_RESTART_GRACE_MS);
  // Everything this front end holds, in release order: close() runs it after draining, a failed start at once.
  const release: Step[] = [
    ['version view', () => versions.stop()],
    ['reply reader', () => replies.stop()],
    ['metrics', () => metricsPublisher.stop()],
    ['redis', () => closeRedis(redis)],
    ['redis (replies)', () => blocking.disconnect()],
    ['http server', () => http.closeAll()],
    ['grpc server', () => grpc?.close()],
    ['admin server', () => admin?.close()],
    ['auth', () => auth.close()],
    ['tracing', () => tracer?.shutdown()],
  ];
  const onStepFailure = (step: string, err: Error) =>
    log.warn({ err: err.message, step }, 'front end close step failed');
  const releaseAll = () => runSteps(release, onStepFailure);

  let port: number;
  try {
    await Promise.all([whenReady(redis), whenReady(blocking)]);
    await replies.start();
    await versions.start();
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
    port = await http.listen(config.HOST, config.PORT);
    grpc = await startGrpcServer({ ...ctx, ready: async () => (await readiness(ctx, http)).ready });
    if (auth.admin) admin = await startAdminServer({ config, redis, keys, log, metrics, guard: auth.admin });
  } catch (err) {
    // A failed start (Redis unreachable, port in use, ...) releases everything it had opened.
    await releaseAll();
    throw err;
  }
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
      await releaseAll();
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
