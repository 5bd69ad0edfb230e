/** Entry point of one front-end process (PM2 runs several). Needs REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS. */
import { loadConfig, shutdownGraceMs } from '../config/config.ts';
import { createLogger } from '../observability/logger.ts';
import { requiredRedisTarget } from '../redis/connect.ts';
import { exitOnStartupError, onShutdownSignal } from '../lifecycle/shutdown.ts';
import { startFrontend, type Frontend } from './frontend.ts';
import { assertFreshBuild } from '../build/stamp.ts';

try {
  assertFreshBuild();
  const config = loadConfig();
  const redis = requiredRedisTarget(config, 'a standalone front end');
  const log = createLogger('frontend', config.LOG_LEVEL);
  // Handlers first: a SIGTERM right after 'front end listening' must find them in place.
  let frontend: Frontend | undefined;
  onShutdownSignal(log, shutdownGraceMs(config), async () => frontend?.close());
  frontend = await startFrontend(config, redis, log);
  process.send?.('ready'); // PM2 wait_ready
} catch (err) {
  exitOnStartupError(err);
}
