/** Structured JSON logs (pino); every process names its role, every request line carries its request id. */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config/config.ts';

export type { Logger };

/**
 * Credentials are never logged; these paths are censored should a header object or a key ever reach a log call.
 * Access lines carry the key's name (`key`), which is not a secret.
 */
const REDACT = [
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  '*.headers.authorization',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
];

/** `level` is the validated LOG_LEVEL; `destination` defaults to stdout; tests pass a stream to read lines back. */
export function createLogger(role: string, level: Config['LOG_LEVEL'], destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { role, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A child logger made on first use: request paths log only on errors, so most requests never need one. */
export function lazyChild(log: Logger, bindings: Record<string, unknown>): () => Logger {
  let child: Logger | undefined;
  return () => (child ??= log.child(bindings));
}
