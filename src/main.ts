/**
 * `npm start`: the whole service in one process tree — a private redis-server unless REDIS_URL (or a cluster or
 * sentinels) is set, one model host and one front end. The production shapes run the same pieces as separate PM2 apps.
 */
import { loadConfig, shutdownGraceMs } from './config/config.ts';
import { createLogger } from './observability/logger.ts';
import { exitOnStartupError, onShutdownSignal } from './lifecycle/shutdown.ts';
import { runSteps } from './lifecycle/steps.ts';
import { configuredRedisTarget, describeTarget } from './redis/connect.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from './redis/embedded.ts';
import { startModelHost, type ModelHost } from './host/model-host.ts';
import { startFrontend, type Frontend } from './frontend/frontend.ts';
import { loadUws } from './http/uws-binary.ts';
import { assertFreshBuild } from './build/stamp.ts';

let embedded: EmbeddedRedis | undefined;
let host: ModelHost | undefined;
let frontend: Frontend | undefined;
// Front end first (it waits for its in-flight requests), then the host, then Redis; each runs even if one fails.
const stopAll = (onFailure: (step: string, err: Error) => void) =>
  runSteps(
    [
      ['front end', () => frontend?.close()],
      ['model host', () => host?.close()],
      ['redis-server', () => embedded?.stop()],
    ],
    onFailure,
  );
try {
  assertFreshBuild();
  const config = loadConfig();
  const log = createLogger('service', config.LOG_LEVEL);
  // HTTP_SERVER=uws where uWS does not load: refuse before starting anything.
  if (config.HTTP_SERVER === 'uws') loadUws();
  let redisTarget = configuredRedisTarget(config);
  if (!redisTarget) {
    embedded = await startEmbeddedRedis({
      maxQueueBytes: config.MAX_QUEUE_BYTES,
      responseCacheBytes: config.RESPONSE_CACHE_MAX_BYTES,
    });
    redisTarget = embedded.url;
    log.info({ port: embedded.port }, 'started a private redis-server on loopback (set REDIS_URL to use your own)');
  } else {
    log.info({ redis: describeTarget(redisTarget) }, 'using the configured redis');
  }
  host = await startModelHost(config, redisTarget, log.child({ component: 'model-host' }), {
    // A dead inference thread: the host has closed itself; stop the rest and exit non-zero.
    onFatal: () => void stopAll(() => {}).finally(() => process.exit(1)),
  });
  frontend = await startFrontend(config, redisTarget, log.child({ component: 'frontend' }));
  onShutdownSignal(log, shutdownGraceMs(config), async () => {
    let failed: Error | undefined;
    await stopAll((step, err) => {
      log.error({ err: err.message, step }, 'shutdown step failed');
      failed ??= err;
    });
    if (failed) throw failed;
  });
  const grpc =
    frontend.grpcPort === undefined ? '' : `; gRPC (Open Inference Protocol) on ${config.HOST}:${frontend.grpcPort}`;
  console.log(
    `serving on http://${config.HOST}:${frontend.port} with ${frontend.httpServer}  (POST /predict, GET /readyz)${grpc}`,
  );
} catch (err) {
  await stopAll(() => {}); // the start-up error is the one to report
  exitOnStartupError(err);
}
