/** Entry point of one model-host process (PM2 runs M of them). Needs REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS. */
import { loadConfig, shutdownGraceMs } from '../config/config.ts';
import { createLogger } from '../observability/logger.ts';
import { requiredRedisTarget } from '../redis/connect.ts';
import { exitOnStartupError, onShutdownSignal } from '../lifecycle/shutdown.ts';
import { startModelHost } from './model-host.ts';
import { startHealthServer } from './health-server.ts';
import { assertFreshBuild } from '../build/stamp.ts';

try {
  assertFreshBuild();
  const config = loadConfig();
  const redis = requiredRedisTarget(config, 'a standalone model host');
  const log = createLogger('model-host', config.LOG_LEVEL);
  // Probes see the host live (and not ready) while it loads and warms its models.
  const health =
    config.HOST_HEALTH_PORT > 0 ? await startHealthServer(config.HOST, config.HOST_HEALTH_PORT) : undefined;
  // A dead inference thread: the host has closed itself; exiting non-zero makes the supervisor restart it.
  const host = await startModelHost(config, redis, log, { onFatal: () => process.exit(1) });
  health?.setPhase('ready');
  onShutdownSignal(log, shutdownGraceMs(config), async () => {
    health?.setPhase('draining');
    await host.close();
    await health?.close();
  });
  process.send?.('ready');
} catch (err) {
  exitOnStartupError(err);
}
