/** Structured JSON logs (pino); every process names its role, every request line carries its request id. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(role: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { role, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
