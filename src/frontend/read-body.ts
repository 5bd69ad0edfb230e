/**
 * Reads a request body from uWS chunks into one buffer, refusing it as soon as it crosses the limit and cutting
 * it off when it does not arrive in time. Chunks are copied (uWS reuses their memory after the callback).
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { ErrorCode } from '../wire/errors.ts';
import type { RequestState } from './respond.ts';

export class BodyError extends Error {
  constructor(readonly code: ErrorCode) {
    super(code);
  }
}

export function readBody(res: HttpResponse, state: RequestState, declaredLength: number | undefined, limit: number, timeoutMs: number): Promise<Buffer> {
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
    state.onAbort = () => finish(new BodyError('BODY_TIMEOUT'));
    res.onData((chunk, isLast) => {
      if (settled) return;
      const size = chunk.byteLength;
      if (length + size > limit) return finish(new BodyError('BODY_TOO_LARGE'));
      if (length + size > buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(buf.length * 2, length + size)));
        buf.copy(grown, 0, 0, length);
        buf = grown;
      }
      buf.set(new Uint8Array(chunk), length);
      length += size;
      if (isLast) finish();
    });
  });
}
