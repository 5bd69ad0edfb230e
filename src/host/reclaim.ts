/**
 * Re-claims, on one request stream, entries whose consumer is dead: delivered, unacknowledged for at least
 * CLAIM_IDLE_MS, and held by a model host that has no fresh heartbeat in that stream's live-host set. A live host's
 * entries are never taken however long it holds them (a slow decode, a long batch), so nothing is decoded twice
 * while its host is alive. One Lua script in the stream's slot: the liveness check and the XCLAIM are atomic, so a
 * host cannot come back between them, and two hosts re-claiming at once cannot both take an entry (XCLAIM's
 * min-idle check).
 */
import { CONSUMER_GROUP } from '../wire/keys.ts';
import type { RedisClient } from '../redis/connect.ts';

export type RawEntry = [Buffer, Buffer[] | null];

export interface ReclaimTarget {
  /** The request stream and, in the same slot, the sorted set of live hosts (id → heartbeat expiry, epoch ms). */
  requests: string;
  liveHosts: string;
}

export interface Reclaimed {
  entries: RawEntry[];
  /** The dead consumers the entries were taken from. */
  from: string[];
}

/** How many idle pending entries one call looks at: a host holds at most MAX_BATCH × BATCH_BUFFERS plus a backlog. */
const SCAN = 1000;

// KEYS: stream, hosts. ARGV: group, consumer, min idle ms, count, now ms, scan.
// Returns { from-list, XCLAIM reply }.
const RECLAIM_SCRIPT = `
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[6])
local now, want = tonumber(ARGV[5]), tonumber(ARGV[4])
local alive, ids, from = {}, {}, {}
for _, p in ipairs(pending) do
  local owner = p[2]
  if owner ~= ARGV[2] then
    if alive[owner] == nil then
      local expiry = redis.call('ZSCORE', KEYS[2], owner)
      alive[owner] = (expiry and tonumber(expiry) > now) and 1 or 0
      if alive[owner] == 0 then table.insert(from, owner) end
    end
    if alive[owner] == 0 then
      table.insert(ids, p[1])
      if #ids >= want then break end
    end
  end
end
if #ids == 0 then return { from, {} } end
return { from, redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(ids)) }
`;

export async function reclaimFromDeadHosts(
  redis: RedisClient,
  target: ReclaimTarget,
  opts: { consumer: string; minIdleMs: number; count: number },
): Promise<Reclaimed> {
  const reply = (await redis.callBuffer(
    'EVAL',
    RECLAIM_SCRIPT,
    2,
    target.requests,
    target.liveHosts,
    CONSUMER_GROUP,
    opts.consumer,
    opts.minIdleMs,
    opts.count,
    Date.now(),
    SCAN,
  )) as [Buffer[], RawEntry[]];
  // An entry deleted while pending comes back without fields; there is nothing left to answer.
  const entries = reply[1].filter((e) => e?.[1]);
  return { entries, from: entries.length > 0 ? reply[0].map(String) : [] };
}
