/**
 * Announces a live model host: its id in the hosts sorted set (the registry) and, for every model it serves, in
 * that model's live-host set of every request shard, each scored by expiry; and what it serves in a hash with a
 * TTL (src/wire/heartbeat.ts). Front ends admit a request for a model only while a host serving it is live.
 */
import type { RedisClient } from '../redis/connect.ts';
import { modelKeys, type Keys } from '../wire/keys.ts';
import { encodeHeartbeat, type ServedModel } from '../wire/heartbeat.ts';
import { versionedModelName, type VersionStatus } from '../wire/versions.ts';
import type { Logger } from '../observability/logger.ts';

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  /** Every live-host set this host belongs to besides the registry: per ready model version, per shard. */
  private liveSets: string[] = [];
  private versions: Record<string, VersionStatus[]> | undefined;
  /** The beat being written: update() waits for it, or its ZADD could put the host back in a set just left. */
  private beating: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly hostId: string,
    private models: readonly ServedModel[],
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    this.liveSets = this.setsOf(models);
  }

  private setsOf(models: readonly ServedModel[]): string[] {
    return models.flatMap((m) =>
      modelKeys(this.keys, versionedModelName(m.name, m.version ?? 1)).shards.map((shard) => shard.liveHosts),
    );
  }

  /**
   * What the host serves changed (a version became ready, or is unloading): left live-host sets are left at
   * once, so no front end admits another request to a version going away, and the hash is rewritten now.
   */
  async update(models: readonly ServedModel[], versions: Record<string, VersionStatus[]>): Promise<void> {
    const sets = this.setsOf(models);
    const left = this.liveSets.filter((s) => !sets.includes(s));
    this.models = models;
    this.versions = versions;
    this.liveSets = sets;
    await this.beating?.catch(() => {});
    await Promise.all(left.map((set) => this.redis.zrem(set, this.hostId)));
    if (this.timer) await this.beat();
  }

  async start(): Promise<void> {
    await this.beat();
    // One warning per outage, one line when the host is registered again (Redis may have lost the registry).
    let failing = false;
    this.timer = setInterval(
      () =>
        this.beat().then(
          () => {
            if (failing) this.log.info({ hostId: this.hostId }, 'heartbeat restored: host registered again');
            failing = false;
          },
          (err: Error) => {
            if (!failing) this.log.warn({ err: err.message }, 'heartbeat failed; retrying every beat');
            failing = true;
          },
        ),
      this.intervalMs,
    );
    this.timer.unref();
  }

  /** Withdraws the host at once, so front ends stop counting on it before it exits. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([
      this.redis.multi().zrem(this.keys.registry, this.hostId).del(this.keys.hostInfo(this.hostId)).exec(),
      ...this.liveSets.map((set) => this.redis.zrem(set, this.hostId)),
    ]);
  }

  private beat(): Promise<void> {
    const beat = this.writeBeat();
    this.beating = beat;
    return beat;
  }

  private async writeBeat(): Promise<void> {
    const now = Date.now();
    const ttl = this.intervalMs * 3;
    const info = this.keys.hostInfo(this.hostId);
    const fields = encodeHeartbeat({
      startedAt: this.startedAt,
      heartbeatAt: now,
      models: [...this.models],
      ...(this.versions && { versions: this.versions }),
    });
    // One MULTI per key (or slot): a cluster refuses a transaction whose keys span slots.
    const results = await Promise.all([
      this.redis
        .multi()
        .zadd(this.keys.registry, now + ttl, this.hostId)
        .zremrangebyscore(this.keys.registry, '-inf', now)
        .hset(info, fields)
        .pexpire(info, ttl)
        .exec(),
      ...this.liveSets.map((set) =>
        this.redis
          .multi()
          .zadd(set, now + ttl, this.hostId)
          .zremrangebyscore(set, '-inf', now)
          .exec(),
      ),
    ]);
    const failed = results.flatMap((r) => r ?? []).find(([err]) => err);
    if (failed) throw failed[0];
  }
}
