/**
 * Collects a request body into one buffer, for either HTTP server: refuses it as soon as it crosses the limit,
 * cuts it off when it does not arrive in time, and gives up when the client goes away. Chunks are copied (uWS
 * reuses their memory after the callback). With a Content-Length the buffer is allocated once at its size.
 */
import { BodyError, type BodyLimits } from './types.ts';

export interface BodySource {
  /** Delivers the body's chunks; `isLast` marks the end of the body. */
  onChunk(listener: (chunk: Uint8Array, isLast: boolean) => void): void;
  /** Runs `listener` if the client goes away. */
  onAbort(listener: () => void): void;
}

export function collectBody(source: BodySource, { declaredLength, limit, timeoutMs }: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredLength !== undefined && declaredLength > limit) {
      reject(new BodyError('BODY_TOO_LARGE'));
      return;
    }
    // With a Content-Length we write into one buffer of the right size; otherwise grow by doubling.
    let buf = Buffer.allocUnsafe(declaredLength ?? 64 * 1024);
    let length = 0;
    let settled = false;
    const timer = setTimeout(() => finish(new BodyError('BODY_TIMEOUT')), timeoutMs);
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(buf.subarray(0, length));
    };
    source.onAbort(() => finish(new BodyError('CLIENT_GONE')));
    source.onChunk((chunk, isLast) => {
      if (settled) return;
      const size = chunk.byteLength;
      if (length + size > limit) return finish(new BodyError('BODY_TOO_LARGE'));
      if (length + size > buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(buf.length * 2, length + size)));
        buf.copy(grown, 0, 0, length);
        buf = grown;
      }
      buf.set(chunk, length);
      length += size;
      if (isLast) finish();
    });
  });
}
