/**
 * MAX_INFLIGHT_BODY_BYTES: the bytes one front end may hold in request bodies being received. A body reserves
 * its declared Content-Length (or BODY_LIMIT_BYTES when chunked) before any of it is read, since that is what
 * reading it will allocate, and gives it back when it has arrived or failed. Sixty slow 10 MiB uploads held
 * 0.6 GB before this bound.
 */
export class BodyBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Reserves `bytes`, or returns false when they do not fit. A lone body always fits, whatever its size. */
  take(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  get inUse(): number {
    return this.used;
  }
}
