/**
 * Collects a request body into one buffer, for either HTTP server: refuses it as soon as it crosses the limit,
 * cuts it off when it does not arrive in time, and gives up when the client goes away. Chunks are copied (uWS
 * reuses their memory after the callback): the body's one copy. With a Content-Length the buffer is taken once
 * at its size, from `limits.pool` when given (the caller gives it back when done with the body).
 */
import { BodyError, type BodyLimits } from './types.ts';

export interface BodySource {
  /** Delivers the body's chunks; `isLast` marks the end of the body. */
  onChunk(listener: (chunk: Uint8Array, isLast: boolean) => void): void;
  /** Runs `listener` if the client goes away. */
  onAbort(listener: () => void): void;
}

export function collectBody(
  source: BodySource,
  { declaredLength, limit, timeoutMs, pool }: BodyLimits,
): Promise<Buffer> {
  const alloc = (bytes: number) => (pool ? pool.take(bytes) : Buffer.allocUnsafe(bytes));
  return new Promise((resolve, reject) => {
    if (declaredLength !== undefined && declaredLength > limit) {
      reject(new BodyError('BODY_TOO_LARGE'));
      return;
    }
    // With a Content-Length we write into one buffer of the right size; otherwise grow by doubling.
    let buf = alloc(declaredLength ?? 64 * 1024);
    let length = 0;
    let settled = false;
    const timer = setTimeout(() => finish(new BodyError('BODY_TIMEOUT')), timeoutMs);
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        pool?.give(buf);
        reject(err);
      } else resolve(buf.subarray(0, length));
    };
    source.onAbort(() => finish(new BodyError('CLIENT_GONE')));
    source.onChunk((chunk, isLast) => {
      if (settled) return;
      const size = chunk.byteLength;
      if (length + size > limit) return finish(new BodyError('BODY_TOO_LARGE'));
      if (length + size > buf.length) {
        const grown = alloc(Math.min(limit, Math.max(buf.length * 2, length + size)));
        buf.copy(grown, 0, 0, length);
        pool?.give(buf);
        buf = grown;
      }
      buf.set(chunk, length);
      length += size;
      if (isLast) finish();
    });
  });
}
