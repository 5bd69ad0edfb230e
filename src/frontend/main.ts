/** Entry point of one front-end process (PM2 runs several). Needs REDIS_URL. */
import { loadConfig } from '../config/config.ts';
import { createLogger } from '../observability/logger.ts';
import { exitOnStartupError, onShutdownSignal } from '../lifecycle/shutdown.ts';
import { startFrontend } from './frontend.ts';

try {
  const config = loadConfig();
  if (!config.REDIS_URL) throw new Error('REDIS_URL is required for a standalone front end (npm start embeds Redis instead)');
  const log = createLogger('frontend', config.LOG_LEVEL);
  const frontend = await startFrontend(config, config.REDIS_URL, log);
  onShutdownSignal(log, config.REQUEST_TIMEOUT_MS + 5000, () => frontend.close());
  process.send?.('ready'); // PM2 wait_ready
} catch (err) {
  exitOnStartupError(err);
}
