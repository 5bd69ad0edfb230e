/**
 * Takes request envelopes from the requests stream as a member of the model-hosts consumer group: a blocking
 * XREADGROUP for exactly as many entries as the batcher has free slots (an idle host costs nothing), and every
 * so often XAUTOCLAIM of entries another host took and never acknowledged (it died), so none is lost.
 */
import type { Redis } from 'ioredis';
import { CONSUMER_GROUP, ENVELOPE_FIELD, type Keys } from '../wire/keys.ts';
import { unpackEnvelope } from '../wire/envelope.ts';
import type { Logger } from '../observability/logger.ts';
import { whenReady } from '../redis/connect.ts';
import type { Batcher, Job } from './batcher.ts';
import type { ResultPublisher } from './publisher.ts';

type RawEntry = [Buffer, Buffer[] | null];

export interface ConsumerOptions {
  consumerName: string;
  claimIdleMs: number;
  blockMs: number;
}

export class RequestConsumer {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private nextClaimAt = 0;
  onClaimed: (count: number) => void = () => {};

  constructor(
    /** Used only for blocking reads: a blocking command would stall anything else on the connection. */
    private readonly blocking: Redis,
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
    const timedOut = new Promise<boolean>((resolve) => { bound = setTimeout(() => resolve(true), this.opts.blockMs + 3000); });
    const hung = await Promise.race([this.loop?.then(() => false), timedOut]);
    clearTimeout(bound);
    // Only if the read hangs (e.g. Redis half-open) is the connection cut.
    if (hung) this.blocking.disconnect();
    await this.loop;
    this.blocking.disconnect();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.batcher.whenCapacity();
      if (this.stopped) break;
      try {
        const count = this.batcher.capacity();
        // Capacity can be gone again by the time this runs; COUNT 0 would mean "no limit" to Redis.
        if (count === 0) continue;
        let entries: RawEntry[] = [];
        if (Date.now() >= this.nextClaimAt) {
          entries = await this.autoclaim(count);
          this.nextClaimAt = Date.now() + this.opts.claimIdleMs / 2;
        }
        if (entries.length === 0) entries = await this.read(count);
        if (this.stopped && entries.length === 0) break;
        await this.accept(entries);
      } catch (err) {
        if (this.stopped) break;
        await this.recover(err as Error);
      }
    }
  }

  private async read(count: number): Promise<RawEntry[]> {
    const reply = (await this.blocking.xreadgroupBuffer(
      'GROUP', CONSUMER_GROUP, this.opts.consumerName, 'COUNT', count, 'BLOCK', this.opts.blockMs,
      'STREAMS', this.keys.requests, '>',
    )) as Array<[Buffer, RawEntry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  private async autoclaim(count: number): Promise<RawEntry[]> {
    // ioredis types no Buffer variant of XAUTOCLAIM; envelopes are binary, so ask for Buffers explicitly.
    const reply = (await this.blocking.callBuffer(
      'XAUTOCLAIM', this.keys.requests, CONSUMER_GROUP, this.opts.consumerName, this.opts.claimIdleMs, '0-0', 'COUNT', count,
    )) as [Buffer, RawEntry[], Buffer[]];
    const claimed = reply[1].filter((e) => e?.[1]);
    if (claimed.length > 0) {
      this.log.warn({ count: claimed.length }, 'claimed requests left unacknowledged by another model host');
      this.onClaimed(claimed.length);
    }
    return claimed;
  }

  private async accept(entries: RawEntry[]): Promise<void> {
    const jobs: Job[] = [];
    const malformed: string[] = [];
    for (const [rawId, fields] of entries) {
      const entryId = rawId.toString();
      const body = fields && fields[0]?.toString() === ENVELOPE_FIELD ? fields[1] : undefined;
      const env = body ? unpackEnvelope(body) : undefined;
      if (env) jobs.push({ entryId, env });
      else malformed.push(entryId);
    }
    if (malformed.length > 0) {
      this.log.error({ entries: malformed }, 'discarding malformed request entries');
      await this.publisher.discard(malformed);
    }
    if (jobs.length > 0) this.batcher.add(jobs);
  }

  /** After a failed read: recreate the group if Redis lost it, or wait for the connection to come back. */
  private async recover(err: Error): Promise<void> {
    if (/NOGROUP/.test(err.message)) {
      // Redis lost the stream and its group (restarted without persistence, or the key was deleted).
      await ensureGroup(this.blocking, this.keys).then(
        () => this.log.warn({ stream: this.keys.requests }, 'consumer group was missing (Redis restarted?): recreated'),
        () => {},
      );
      return;
    }
    this.log.warn({ err: err.message }, 'request stream read failed; waiting for redis');
    // Bounded, so stop() (which disconnects) or a Redis that never returns does not park the loop forever.
    await whenReady(this.blocking, 2000).catch(() => {});
  }
}

/** Creates the consumer group (and the stream) if missing; safe to call from every host at every start. */
export async function ensureGroup(redis: Redis, keys: Keys): Promise<void> {
  try {
    await redis.xgroup('CREATE', keys.requests, CONSUMER_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!/BUSYGROUP/.test((err as Error).message)) throw err;
  }
}
