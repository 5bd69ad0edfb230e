/**
 * Takes requests from the request streams as a member of the model-hosts consumer group: per request
 * shard, a blocking XREADGROUP on that shard's own connection for its share of the batcher's free slots (an idle
 * host costs nothing), and every so often a re-claim of entries a dead host (no fresh heartbeat) took and never
 * acknowledged, so none is lost (reclaim.ts; a live host's entries are never taken).
 *
 * Shards: each has its own read loop and connection (a blocking read holds its connection, and in a cluster the
 * shards live on different primaries), so no shard waits behind another. A loop reads ceil(capacity / shards)
 * entries, so every shard gets a turn whatever the others hold; reads that overlap can take up to shards − 1 more
 * entries than the free slots, which wait in the batcher's backlog (never lost). With one shard a loop reads
 * exactly the free slots.
 */
import { CONSUMER_GROUP, type Keys, type ShardKeys } from '../wire/keys.ts';
import { decodeRequest } from '../wire/envelope.ts';
import type { Logger } from '../observability/logger.ts';
import { whenReady, type RedisClient } from '../redis/connect.ts';
import type { Batcher, Job } from './batcher.ts';
import type { ResultPublisher } from './publisher.ts';
import { reclaimFromDeadHosts, type RawEntry } from './reclaim.ts';

export interface ConsumerOptions {
  consumerName: string;
  claimIdleMs: number;
  blockMs: number;
}

export class RequestConsumer {
  private stopped = false;
  private loop: Promise<void> | undefined;
  onClaimed: (count: number) => void = () => {};

  constructor(
    /** One per shard, used only for blocking reads: a blocking command would stall anything else on it. */
    private readonly blocking: readonly RedisClient[],
    private readonly keys: Keys,
    private readonly batcher: Batcher,
    private readonly publisher: ResultPublisher,
    private readonly opts: ConsumerOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops taking work. A pending blocking read is let run out (at most blockMs) rather than cut: entries Redis
   * delivered to a cut read would sit unseen in this consumer's pending list until another host re-claimed them
   * after CLAIM_IDLE_MS. Whatever the last read returns goes to the batcher, which the host then drains.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    let bound: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      bound = setTimeout(() => resolve(true), this.opts.blockMs + 3000);
    });
    const hung = await Promise.race([this.loop?.then(() => false), timedOut]);
    clearTimeout(bound);
    // Only if a read hangs (e.g. Redis half-open) are the connections cut.
    if (hung) for (const conn of this.blocking) conn.disconnect();
    await this.loop;
    for (const conn of this.blocking) conn.disconnect();
  }

  /**
   * After stop() and a drain: takes back entries Redis delivered to this consumer that it never saw (a read that
   * ended as it stopped) and hands them to the batcher, so a host that stops gracefully leaves its pending list
   * empty instead of leaving them for another host to re-claim after CLAIM_IDLE_MS. Returns how many it took.
   */
  async takeOwnPending(command: RedisClient): Promise<number> {
    let taken = 0;
    for (const shard of this.keys.shards) {
      // ID 0 reads this consumer's own delivered-but-unacknowledged history; no BLOCK, so any connection will do.
      const reply = (await command.xreadgroupBuffer(
        'GROUP',
        CONSUMER_GROUP,
        this.opts.consumerName,
        'COUNT',
        this.batcher.capacity() || 1,
        'STREAMS',
        shard.requests,
        '0',
      )) as Array<[Buffer, RawEntry[]]> | null;
      const entries = reply?.[0]?.[1] ?? [];
      taken += entries.length;
      await this.accept(entries, shard.index);
    }
    return taken;
  }

  private async run(): Promise<void> {
    await Promise.all(this.keys.shards.map((shard) => this.runShard(shard, this.blocking[shard.index]!)));
  }

  private async runShard(shard: ShardKeys, blocking: RedisClient): Promise<void> {
    const shards = this.keys.shards.length;
    let nextClaimAt = 0;
    while (!this.stopped) {
      await this.batcher.whenCapacity();
      if (this.stopped) break;
      try {
        // Capacity can be gone again by the time this runs; COUNT 0 would mean "no limit" to Redis.
        const count = Math.ceil(this.batcher.capacity() / shards);
        if (count === 0) continue;
        let entries: RawEntry[] = [];
        if (Date.now() >= nextClaimAt) {
          // Scheduled before the call: a re-claim that fails must not keep the loop from reading.
          nextClaimAt = Date.now() + this.opts.claimIdleMs / 2;
          entries = await this.reclaim(blocking, shard, count);
        }
        if (entries.length === 0) entries = await this.read(blocking, shard, count);
        if (this.stopped && entries.length === 0) break;
        await this.accept(entries, shard.index);
      } catch (err) {
        if (this.stopped) break;
        await this.recover(blocking, shard, err as Error);
      }
    }
  }

  private async read(blocking: RedisClient, shard: ShardKeys, count: number): Promise<RawEntry[]> {
    const reply = (await blocking.xreadgroupBuffer(
      'GROUP',
      CONSUMER_GROUP,
      this.opts.consumerName,
      'COUNT',
      count,
      'BLOCK',
      this.opts.blockMs,
      'STREAMS',
      shard.requests,
      '>',
    )) as Array<[Buffer, RawEntry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  private async reclaim(blocking: RedisClient, shard: ShardKeys, count: number): Promise<RawEntry[]> {
    const { entries, from } = await reclaimFromDeadHosts(blocking, shard, {
      consumer: this.opts.consumerName,
      minIdleMs: this.opts.claimIdleMs,
      count,
    });
    if (entries.length > 0) {
      this.log.warn(
        { count: entries.length, from, shard: shard.index },
        'claimed requests of a model host with no fresh heartbeat (dead)',
      );
      this.onClaimed(entries.length);
    }
    return entries;
  }

  private async accept(entries: RawEntry[], shard: number): Promise<void> {
    const jobs: Job[] = [];
    const malformed: string[] = [];
    for (const [rawId, fields] of entries) {
      const entryId = rawId.toString();
      const env = fields ? decodeRequest(fields) : undefined;
      if (env) jobs.push({ entryId, env, shard });
      else malformed.push(entryId);
    }
    if (malformed.length > 0) {
      this.log.error({ entries: malformed }, 'discarding malformed request entries');
      await this.publisher.discard(malformed.map((entryId) => ({ shard, entryId })));
    }
    if (jobs.length > 0) this.batcher.add(jobs);
  }

  /** After a failed read: recreate the group if Redis lost it, or wait for the connection to come back. */
  private async recover(blocking: RedisClient, shard: ShardKeys, err: Error): Promise<void> {
    if (/NOGROUP/.test(err.message)) {
      // Redis lost the stream and its group (restarted without persistence, a failover lost the write, or the key
      // was deleted).
      await ensureShardGroup(blocking, shard).then(
        () => this.log.warn({ stream: shard.requests }, 'consumer group was missing (Redis restarted?): recreated'),
        () => {},
      );
      return;
    }
    this.log.warn({ err: err.message, shard: shard.index }, 'request stream read failed; waiting for redis');
    // Bounded, so stop() (which disconnects) or a Redis that never returns does not park the loop forever; the
    // pause keeps a cluster whose slot has no primary yet (CLUSTERDOWN) from being asked in a tight loop.
    const waited = Date.now();
    await whenReady(blocking, 2000).catch(() => {});
    if (Date.now() - waited < 100) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function ensureShardGroup(redis: RedisClient, shard: ShardKeys): Promise<void> {
  try {
    await redis.xgroup('CREATE', shard.requests, CONSUMER_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!/BUSYGROUP/.test((err as Error).message)) throw err;
  }
}

/** Creates the consumer groups (and the streams) if missing; safe to call from every host at every start. */
export async function ensureGroup(redis: RedisClient, keys: Keys): Promise<void> {
  await Promise.all(keys.shards.map((shard) => ensureShardGroup(redis, shard)));
}
