/**
 * nginx's lingering close, for both HTTP servers: an answer that closes the connection while the client is still
 * sending its body must not reset it, or a client still writing (Node 24's fetch, undici) reports EPIPE instead of
 * the answer. node:http answers, half-closes, then reads and discards the rest; uWS, whose response cannot close
 * the connection once answered, reads and discards the rest first, then answers and closes. Both within a byte
 * bound and a time limit, after which the connection is cut.
 */
import type { Config } from '../config/config.ts';
import type { LingerLimits } from './types.ts';

/** Whether the request announced a body (a Content-Length above 0, or any Transfer-Encoding). */
export function announcesBody(headers: Readonly<Record<string, string>>): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length.trim() !== '0') || headers['transfer-encoding'] !== undefined;
}

export function lingerLimits(
  config: Pick<Config, 'LINGER_MAX_BYTES' | 'LINGER_TIMEOUT_MS' | 'LINGER_IDLE_MS'>,
): LingerLimits {
  return { maxBytes: config.LINGER_MAX_BYTES, timeoutMs: config.LINGER_TIMEOUT_MS, idleMs: config.LINGER_IDLE_MS };
}

/** Why lingering ended: the body's end, past LINGER_MAX_BYTES, LINGER_TIMEOUT_MS in all, or LINGER_IDLE_MS without a byte. */
export type LingerEnd = 'end' | 'bytes' | 'time' | 'idle';

/** Counts the body's remaining bytes as they arrive; `close` runs once, when lingering ends (LingerEnd). */
export class Linger {
  private bytes = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly idle: NodeJS.Timeout;

  constructor(
    private readonly limits: LingerLimits,
    private readonly close: (reason: LingerEnd) => void,
  ) {
    this.timer = setTimeout(() => this.finish('time'), limits.timeoutMs);
    this.idle = setTimeout(() => this.finish('idle'), limits.idleMs);
    // A lingering connection never holds a process that is otherwise done.
    this.timer.unref();
    this.idle.unref();
  }

  chunk(size: number, isLast: boolean): void {
    this.bytes += size;
    if (isLast) this.finish('end');
    else if (this.bytes > this.limits.maxBytes) this.finish('bytes');
    else this.idle.refresh();
  }

  /** The connection went away on its own: nothing left to close. */
  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.idle);
  }

  private finish(reason: LingerEnd): void {
    if (this.closed) return;
    this.stop();
    this.close(reason);
  }
}
