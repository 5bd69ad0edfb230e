/**
 * Request-body buffers used again instead of allocated per request. An image-sized buffer is external memory to
 * V8, and a stream of them is what started most of a front end's major garbage collections (BENCHMARKS.md,
 * issue 22); from here a busy front end writes each body into a buffer an earlier request gave back.
 *
 * Buffers come in power-of-two sizes from MIN_BYTES; a body larger than maxBodyBytes gets a buffer of its own
 * that is never kept. At most maxPooledBytes of free buffers are kept. A buffer must be given back only once
 * nothing reads the body any more (for a /predict body: once its images are in Redis); one that is never given
 * back is simply collected.
 */

const MIN_BYTES = 64 * 1024;
/** Larger bodies (rare: photos are far smaller) get a buffer of their own, never kept. */
export const POOLED_BODY_MAX_BYTES = 8 * 1024 * 1024;

export class BodyPool {
  private readonly free = new Map<number, Buffer[]>();
  /** The pool's buffers now lent out, by their memory: a buffer is taken back once, and only from this pool. */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  private freeBytes = 0;

  constructor(
    private readonly maxPooledBytes: number,
    private readonly maxBodyBytes: number,
  ) {}

  /** A buffer of at least `bytes` (its whole length is usable). */
  take(bytes: number): Buffer {
    const size = sizeClass(bytes);
    if (size > this.maxBodyBytes) return Buffer.allocUnsafeSlow(bytes);
    let buf = this.free.get(size)?.pop();
    if (buf) this.freeBytes -= size;
    else buf = Buffer.allocUnsafeSlow(size);
    this.lent.add(buf.buffer);
    return buf;
  }

  /** Takes back the buffer under `body` (any view of it); anything else is left to the garbage collector. */
  give(body: Uint8Array): void {
    const memory = body.buffer;
    if (!this.lent.has(memory)) return;
    this.lent.delete(memory);
    const size = memory.byteLength;
    if (this.freeBytes + size > this.maxPooledBytes) return;
    const list = this.free.get(size);
    const buf = Buffer.from(memory, 0, size);
    if (list) list.push(buf);
    else this.free.set(size, [buf]);
    this.freeBytes += size;
  }

  /** Bytes of free buffers kept. */
  get pooledBytes(): number {
    return this.freeBytes;
  }
}

function sizeClass(bytes: number): number {
  let size = MIN_BYTES;
  while (size < bytes) size *= 2;
  return size;
}
