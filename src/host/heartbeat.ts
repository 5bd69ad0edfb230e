/**
 * Announces a live model host: its id in the registry and, for every model version it serves, in that version's
 * live-host set of every request shard, each scored by expiry (3 beats ahead); and what it serves and holds in a
 * hash (src/wire/heartbeat.ts). Front ends admit a request for a model while a host serving it is live, or was
 * within HOST_RESTART_GRACE_MS: so entries stay that long after they expire, and the hash with them.
 */
import type { RedisClient } from '../redis/connect.ts';
import { modelKeys, type Keys } from '../wire/keys.ts';
import { encodeHeartbeat, type ServedModel } from '../wire/heartbeat.ts';
import { versionedModelName, type VersionStatus } from '../wire/versions.ts';
import type { Logger } from '../observability/logger.ts';

export interface HeartbeatTiming {
  intervalMs: number;
  /** How long an expired entry still counts for admission (HOST_RESTART_GRACE_MS). */
  graceMs: number;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private models: readonly ServedModel[] = [];
  private versions: Record<string, VersionStatus[]> = {};
  /** Every live-host set this host belongs to besides the registry: per ready model version, per shard. */
  private liveSets: string[] = [];
  /** The beat being written: update() waits for it, or its ZADD could put the host back in a set just left. */
  private beating: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly hostId: string,
    private readonly timing: HeartbeatTiming,
    private readonly log: Logger,
  ) {}

  private setsOf(models: readonly ServedModel[]): string[] {
    return models.flatMap((m) =>
      modelKeys(this.keys, versionedModelName(m.name, m.version ?? 1)).shards.map((shard) => shard.liveHosts),
    );
  }

  /**
   * What the host serves changed (a version became ready, or is unloading): left live-host sets are left at
   * once (a deliberate removal, so admission refuses at once), and the hash is rewritten now.
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

  /** Registers the host (serving what update() said so far, maybe nothing yet) and beats every interval. */
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
      this.timing.intervalMs,
    );
    this.timer.unref();
  }

  /**
   * Stops beating and expires the host now: front ends stop counting it as live at once, and it counts as
   * recently live for the grace, so requests wait for a restart (a PM2 restart or reload) instead of a 503.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating?.catch(() => {});
    const now = Date.now();
    await Promise.all(
      [this.keys.registry, ...this.liveSets].map((set) => this.redis.zadd(set, 'XX', now, this.hostId)),
    );
  }

  private beat(): Promise<void> {
    const beat = this.writeBeat();
    this.beating = beat;
    return beat;
  }

  private async writeBeat(): Promise<void> {
    const now = Date.now();
    const ttl = this.timing.intervalMs * 3;
    const gone = now - this.timing.graceMs;
    const info = this.keys.hostInfo(this.hostId);
    const fields = encodeHeartbeat({
      startedAt: this.startedAt,
      heartbeatAt: now,
      models: [...this.models],
      versions: this.versions,
    });
    // One MULTI per key (or slot): a cluster refuses a transaction whose keys span slots.
    const results = await Promise.all([
      this.redis
        .multi()
        .zadd(this.keys.registry, now + ttl, this.hostId)
        .zremrangebyscore(this.keys.registry, '-inf', gone)
        .hset(info, fields)
        .pexpire(info, ttl + this.timing.graceMs)
        .exec(),
      ...this.liveSets.map((set) =>
        this.redis
          .multi()
          .zadd(set, now + ttl, this.hostId)
          .zremrangebyscore(set, '-inf', gone)
          .exec(),
      ),
    ]);
    const failed = results.flatMap((r) => r ?? []).find(([err]) => err);
    if (failed) throw failed[0];
  }
}
