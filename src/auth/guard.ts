/**
 * Guards: what an endpoint asks of the Authorization header. Each answers synchronously (the header is read in
 * the request callback, before any body), with the key's name for logs and metrics, or the refusal to send.
 */
import { timingSafeEqual } from 'node:crypto';
import { bearerToken } from './bearer.ts';
import { hashKey } from './key-file.ts';
import type { KeyStore } from './key-store.ts';
import type { TokenBuckets } from './rate-limiter.ts';

export type AuthRefusal = 'UNAUTHORIZED' | 'FORBIDDEN' | 'RATE_LIMITED';

export type AuthResult =
  | { ok: true; keyName?: string }
  | { ok: false; code: AuthRefusal; headers: Record<string, string>; keyName?: string; reason: string };

export interface Guard {
  /** False when the endpoint is open (no key configured): callers can skip reading the header. */
  readonly enabled: boolean;
  check(authorization: string | undefined, nowMs?: number): AuthResult;
}

const REALM = 'Bearer realm="image-classify"';

function unauthorized(reason: 'missing' | 'invalid'): AuthResult {
  // RFC 6750: no error attribute when no credential was sent, invalid_token when a wrong one was.
  const challenge = reason === 'missing' ? REALM : `${REALM}, error="invalid_token"`;
  return {
    ok: false,
    code: 'UNAUTHORIZED',
    headers: { 'WWW-Authenticate': challenge },
    reason: reason === 'missing' ? 'no bearer key' : 'unknown key',
  };
}

export const OPEN: Guard = { enabled: false, check: () => ({ ok: true }) };

/** Inference endpoints: a key from the key file, then that key's token bucket when a rate limit is set. */
export function inferenceGuard(store: KeyStore, limiter?: TokenBuckets): Guard {
  return {
    enabled: true,
    check(authorization, nowMs = Date.now()) {
      const token = bearerToken(authorization);
      if (token === undefined) return unauthorized('missing');
      const entry = store.find(token);
      if (!entry) return unauthorized('invalid');
      const taken = limiter?.take(entry.name, nowMs);
      if (taken && !taken.ok) {
        return {
          ok: false,
          code: 'RATE_LIMITED',
          keyName: entry.name,
          headers: { 'Retry-After': String(taken.retryAfterS) },
          reason: 'key rate limit',
        };
      }
      return { ok: true, keyName: entry.name };
    },
  };
}

/** One fixed key (METRICS_KEY), compared by hash in constant time. */
export function singleKeyGuard(key: string, keyName: string): Guard {
  const expected = hashKey(key);
  return {
    enabled: true,
    check(authorization) {
      const token = bearerToken(authorization);
      if (token === undefined) return unauthorized('missing');
      return timingSafeEqual(hashKey(token), expected) ? { ok: true, keyName } : unauthorized('invalid');
    },
  };
}

/** Management endpoints: an admin key; a key valid only for inference is known but not allowed (403). */
export function adminGuard(admins: KeyStore, inference?: KeyStore): Guard {
  return {
    enabled: true,
    check(authorization) {
      const token = bearerToken(authorization);
      if (token === undefined) return unauthorized('missing');
      const admin = admins.find(token);
      if (admin) return { ok: true, keyName: admin.name };
      const other = inference?.find(token);
      if (other) return { ok: false, code: 'FORBIDDEN', keyName: other.name, headers: {}, reason: 'not an admin key' };
      return unauthorized('invalid');
    },
  };
}
