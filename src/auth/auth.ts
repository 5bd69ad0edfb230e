/**
 * The front end's guards, built from the configuration: inference keys (API_KEYS_FILE) with their optional
 * per-key rate limit, and the metrics key (METRICS_KEY). Both are off unless configured. Key files reload on
 * SIGHUP and when they change on disk.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { OPEN, inferenceGuard, singleKeyGuard, type Guard } from './guard.ts';
import { KeyStore } from './key-store.ts';
import { TokenBuckets } from './rate-limiter.ts';

export interface FrontendAuth {
  inference: Guard;
  metrics: Guard;
  /** The inference key store, when API_KEYS_FILE is set (the admin guard tells its keys 403 from 401). */
  inferenceKeys?: KeyStore;
  close(): void;
}

export function startAuth(config: Config, log: Logger): FrontendAuth {
  const metrics = config.METRICS_KEY ? singleKeyGuard(config.METRICS_KEY, 'metrics') : OPEN;
  if (!config.API_KEYS_FILE) return { inference: OPEN, metrics, close: () => {} };

  const store = new KeyStore(config.API_KEYS_FILE, log, 'API_KEYS_FILE');
  const limiter = config.KEY_RATE_LIMIT_RPS > 0 ? new TokenBuckets(config.KEY_RATE_LIMIT_RPS, config.KEY_RATE_BURST) : undefined;
  if (limiter) store.onReload((names) => limiter.keepOnly(names));
  store.watch();
  const onHangup = () => store.reload('SIGHUP');
  process.on('SIGHUP', onHangup);
  log.info({ keysFile: config.API_KEYS_FILE, keys: store.size, ratePerS: config.KEY_RATE_LIMIT_RPS || undefined }, 'API keys required on inference endpoints');
  return {
    inference: inferenceGuard(store, limiter),
    metrics,
    inferenceKeys: store,
    close() {
      process.off('SIGHUP', onHangup);
      store.close();
    },
  };
}
