/**
 * Two-stage shutdown for every process: the first SIGTERM/SIGINT starts a graceful close; a second one, or the
 * grace period running out, exits at once. PM2's kill_timeout is set a little above the grace period.
 */
import type { Logger } from '../observability/logger.ts';

export function onShutdownSignal(log: Logger, graceMs: number, close: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
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
