/**
 * Whether a request stream still holds entries its consumer group has not been given yet: the group's
 * last-delivered id against the stream's newest entry. A version being unloaded keeps reading until this is
 * false (no front end admits more to it by then), so the last requests admitted before are answered there.
 */
import type { RedisClient } from '../redis/connect.ts';
import { CONSUMER_GROUP } from '../wire/keys.ts';

/** Stream ids `ms-seq` compared numerically. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms > 0n ? 1 : -1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq > 0n ? 1 : -1;
}

export async function hasUndelivered(redis: RedisClient, stream: string): Promise<boolean> {
  const newest = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0];
  if (newest === undefined) return false;
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  for (const g of groups) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) fields.set(String(g[i]), g[i + 1]);
    if (fields.get('name') === CONSUMER_GROUP)
      return compareIds(newest, String(fields.get('last-delivered-id') ?? '0-0')) > 0;
  }
  return true;
}

/** Polls until no entry is left undelivered on any of the streams, or the time is up. */
export async function untilDelivered(
  redis: RedisClient,
  streams: readonly string[],
  timeoutMs: number,
  pollMs = 50,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = await Promise.all(streams.map((s) => hasUndelivered(redis, s).catch(() => false)));
    if (!left.includes(true)) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
