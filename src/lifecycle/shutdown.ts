/**
 * Two-stage shutdown for every process: the first SIGTERM/SIGINT starts a graceful close; a second one, or the
 * grace period running out, exits at once. PM2's kill_timeout is set a little above the grace period.
 */
import type { Logger } from '../observability/logger.ts';

/**
 * A terminal's Ctrl-C reaches every process of the foreground group, and `npm start` relays it to its child as
 * well: the same signal again this soon after the first is that relay, not a second Ctrl-C.
 */
const RELAYED_WITHIN_MS = 500;

export function onShutdownSignal(log: Logger, graceMs: number, close: () => Promise<void>): void {
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (first) {
      if (signal === first.signal && Date.now() - first.at < RELAYED_WITHIN_MS) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    first = { signal, at: Date.now() };
    log.info({ signal, graceMs }, 'shutting down gracefully');
    const force = setTimeout(() => {
      log.error({ graceMs }, 'graceful shutdown took too long: exiting');
      process.exit(1);
    }, graceMs);
    force.unref();
    close().then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** Entry points report a start-up failure on one line and exit non-zero, never with a stack for config errors. */
export function exitOnStartupError(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`start-up failed: ${message}\n`);
  process.exit(1);
}
