/**
 * Announces a live model host: its id in the hosts sorted set with an expiry score, and its description in a
 * hash with a TTL. Front ends admit requests only while some host's heartbeat is fresh.
 */
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import { encodeHeartbeat, type HostHeartbeat } from '../wire/heartbeat.ts';
import type { Logger } from '../observability/logger.ts';

/** What the host publishes on every beat (the beat adds its time). */
export type HostDescription = Omit<HostHeartbeat, 'heartbeatAt'>;

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly hostId: string,
    private readonly description: HostDescription,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    // One warning per outage, one line when the host is registered again (Redis may have lost the registry).
    let failing = false;
    this.timer = setInterval(() => this.beat().then(
      () => {
        if (failing) this.log.info({ hostId: this.hostId }, 'heartbeat restored: host registered again');
        failing = false;
      },
      (err: Error) => {
        if (!failing) this.log.warn({ err: err.message }, 'heartbeat failed; retrying every beat');
        failing = true;
      },
    ), this.intervalMs);
    this.timer.unref();
  }

  /** Withdraws the host at once, so front ends stop counting on it before it exits. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([
      this.redis.multi().zrem(this.keys.hosts, this.hostId).del(this.keys.hostInfo(this.hostId)).exec(),
      ...this.otherShards().map((shard) => this.redis.zrem(shard.hosts, this.hostId)),
    ]);
  }

  /** Shards other than 0 keep their own live-host set in their own slot (shard 0's is the registry). */
  private otherShards() {
    return this.keys.shards.filter((shard) => shard.hosts !== this.keys.hosts);
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    const ttl = this.intervalMs * 3;
    const info = this.keys.hostInfo(this.hostId);
    // One MULTI per slot: a cluster refuses a transaction whose keys span slots.
    const results = await Promise.all([
      this.redis.multi()
        .zadd(this.keys.hosts, now + ttl, this.hostId)
        .zremrangebyscore(this.keys.hosts, '-inf', now)
        .hset(info, encodeHeartbeat({ ...this.description, heartbeatAt: now }))
        .pexpire(info, ttl)
        .exec(),
      ...this.otherShards().map((shard) => this.redis.multi()
        .zadd(shard.hosts, now + ttl, this.hostId)
        .zremrangebyscore(shard.hosts, '-inf', now)
        .exec()),
    ]);
    const failed = results.flatMap((r) => r ?? []).find(([err]) => err);
    if (failed) throw failed[0];
  }
}
