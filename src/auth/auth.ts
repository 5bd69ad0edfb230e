/**
 * The front end's guards, built from the configuration: inference keys (API_KEYS_FILE) with their optional
 * per-key rate limit, and the metrics key (METRICS_KEY). Both are off unless configured. Key files reload on
 * SIGHUP and when they change on disk.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { OPEN, adminGuard, inferenceGuard, singleKeyGuard, type Guard } from './guard.ts';
import { KeyStore } from './key-store.ts';
import { TokenBuckets } from './rate-limiter.ts';

export interface FrontendAuth {
  inference: Guard;
  /** The same keys on metadata and readiness, with their own bucket (KEY_METADATA_RATE_LIMIT_RPS). */
  metadata: Guard;
  metrics: Guard;
  /** The management API's guard, when ADMIN_KEYS_FILE is set (the management API is off otherwise). */
  admin?: Guard;
  close(): void;
}

/** Opens a key file, reloading it on SIGHUP and when it changes; throws (start-up error) on a bad one. */
function openKeyFile(path: string, variable: string, log: Logger): { store: KeyStore; close(): void } {
  const store = new KeyStore(path, log, variable);
  store.watch();
  const onHangup = () => store.reload('SIGHUP');
  process.on('SIGHUP', onHangup);
  return {
    store,
    close() {
      process.off('SIGHUP', onHangup);
      store.close();
    },
  };
}

/** A key file's token buckets at `ratePerS` (none at 0), forgetting the keys a reload removes. */
function buckets(store: KeyStore, ratePerS: number, burst: number): TokenBuckets | undefined {
  if (ratePerS <= 0) return undefined;
  const limiter = new TokenBuckets(ratePerS, burst);
  store.onReload((names) => limiter.keepOnly(names));
  return limiter;
}

export function startAuth(config: Config, log: Logger): FrontendAuth {
  const metrics = config.METRICS_KEY ? singleKeyGuard(config.METRICS_KEY, 'metrics') : OPEN;
  const opened: Array<{ close(): void }> = [];
  const close = () => {
    for (const o of opened) o.close();
  };
  try {
    let inference = OPEN;
    let metadata = OPEN;
    let inferenceKeys: KeyStore | undefined;
    if (config.API_KEYS_FILE) {
      const file = openKeyFile(config.API_KEYS_FILE, 'API_KEYS_FILE', log);
      opened.push(file);
      inferenceKeys = file.store;
      const limiter = buckets(file.store, config.KEY_RATE_LIMIT_RPS, config.KEY_RATE_BURST);
      inference = inferenceGuard(file.store, limiter);
      const metadataLimiter = buckets(file.store, config.KEY_METADATA_RATE_LIMIT_RPS, config.KEY_METADATA_RATE_BURST);
      metadata = inferenceGuard(file.store, metadataLimiter);
      log.info(
        { keysFile: config.API_KEYS_FILE, keys: file.store.size, ratePerS: config.KEY_RATE_LIMIT_RPS || undefined },
        'API keys required on inference endpoints',
      );
    }
    let admin: Guard | undefined;
    if (config.ADMIN_KEYS_FILE) {
      const file = openKeyFile(config.ADMIN_KEYS_FILE, 'ADMIN_KEYS_FILE', log);
      opened.push(file);
      admin = adminGuard(file.store, inferenceKeys);
    }
    return { inference, metadata, metrics, admin, close };
  } catch (err) {
    close();
    throw err;
  }
}
