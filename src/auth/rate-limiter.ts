/**
 * Per-key token buckets: each key name may spend `burst` requests at once and regains `ratePerS` per second.
 * Pure and clock-injected, so the arithmetic is unit-tested without sleeping.
 */
export type TakeResult = { ok: true } | { ok: false; retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
  ) {
    if (!(ratePerS > 0) || !(burst >= 1)) throw new Error('a token bucket needs rate > 0 and burst >= 1');
  }

  /** Spends one token of `name`'s bucket, or says how many whole seconds until one is there. */
  take(name: string, nowMs: number): TakeResult {
    const bucket = this.buckets.get(name) ?? { tokens: this.burst, at: nowMs };
    const elapsedS = Math.max(0, nowMs - bucket.at) / 1000;
    bucket.tokens = Math.min(this.burst, bucket.tokens + elapsedS * this.ratePerS);
    bucket.at = nowMs;
    this.buckets.set(name, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerS)) };
  }

  /** Drops the buckets of keys no longer in the key file (called after a reload). */
  keepOnly(names: ReadonlySet<string>): void {
    for (const name of this.buckets.keys()) if (!names.has(name)) this.buckets.delete(name);
  }
}
