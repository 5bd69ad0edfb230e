/**
 * nginx's lingering close, for both HTTP servers: an answer that closes the connection while the client is still
 * sending its body must not reset it, or a client still writing (Node 24's fetch, undici) reports EPIPE instead of
 * the answer. node:http answers, half-closes, then reads and discards the rest; uWS, whose response cannot close
 * the connection once answered, reads and discards the rest first, then answers and closes. Both within a byte
 * bound and a time limit, after which the connection is cut.
 */
import type { LingerLimits } from './types.ts';

/** Whether the request announced a body (a Content-Length above 0, or any Transfer-Encoding). */
export function announcesBody(headers: Readonly<Record<string, string>>): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length.trim() !== '0') || headers['transfer-encoding'] !== undefined;
}

/** Counts the body's remaining bytes as they arrive; `close` runs once: at its end, past the bound, or at the time limit. */
export class Linger {
  private bytes = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly limits: LingerLimits,
    private readonly close: (reason: 'end' | 'bytes' | 'time') => void,
  ) {
    this.timer = setTimeout(() => this.finish('time'), limits.timeoutMs);
    // A lingering connection never holds a process that is otherwise done.
    this.timer.unref();
  }

  chunk(size: number, isLast: boolean): void {
    this.bytes += size;
    if (isLast) this.finish('end');
    else if (this.bytes > this.limits.maxBytes) this.finish('bytes');
  }

  /** The connection went away on its own: nothing left to close. */
  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private finish(reason: 'end' | 'bytes' | 'time'): void {
    if (this.closed) return;
    this.stop();
    this.close(reason);
  }
}
