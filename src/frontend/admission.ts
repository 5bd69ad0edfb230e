/**
 * admitRequest: one atomic round trip that queues a request only if some model host is live and the
 * deployment's queue (entries not yet acknowledged) is below MAX_QUEUE. The stream is never trimmed: an
 * accepted request is never silently dropped; overload is refused up front instead.
 */
import type { Redis } from 'ioredis';
import { ENVELOPE_FIELD, type Keys } from '../wire/keys.ts';

const ADMIT_SCRIPT = `
if redis.call('ZCOUNT', KEYS[2], ARGV[1], '+inf') == 0 then return 'NOHOST' end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 'FULL' end
return redis.call('XADD', KEYS[1], '*', ARGV[3], ARGV[4])
`;

export type Admission = 'queued' | 'no-host' | 'full';

interface AdmitCommand {
  admitRequest(requests: string, hosts: string, now: number, maxQueue: number, field: string, envelope: Buffer): Promise<string>;
}

export function defineAdmission(redis: Redis): void {
  redis.defineCommand('admitRequest', { numberOfKeys: 2, lua: ADMIT_SCRIPT });
}

export async function admitRequest(redis: Redis, keys: Keys, maxQueue: number, envelope: Buffer): Promise<Admission> {
  const reply = await (redis as unknown as AdmitCommand).admitRequest(keys.requests, keys.hosts, Date.now(), maxQueue, ENVELOPE_FIELD, envelope);
  if (reply === 'NOHOST') return 'no-host';
  if (reply === 'FULL') return 'full';
  return 'queued';
}
