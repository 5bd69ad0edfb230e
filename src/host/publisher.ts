/**
 * Writes results to the reply streams of the front ends that hold the requests, then acknowledges and deletes
 * their request entries. On one Redis server that is one MULTI, replies first (a write Redis refuses for memory
 * aborts the whole transaction, acknowledgements included). In a Redis Cluster, reply streams and request shards
 * live in different slots, so this is one MULTI per reply stream and then one per shard. Either way a result is
 * never acknowledged without being written (a host dying in between leaves the entry to be re-claimed and
 * answered twice; the front end drops the second answer).
 *
 * A step that fails (a primary failing over, a partition) is retried in the background for RETRY_FOR_MS, not
 * awaited by the batcher: other hosts never re-claim a live host's entries, so an entry this host fails to
 * acknowledge would otherwise stay in its shard for good, counting against admission. Replies are retried only
 * while someone may still wait for them (before the request's deadline).
 */
import { RESULT_FIELD, CONSUMER_GROUP, type Keys } from '../wire/keys.ts';
import { packResult } from '../wire/envelope.ts';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/connect.ts';
import type { Completed } from './batcher.ts';

/** Front ends read their reply stream without trimming it: this bounds every one (EXPIRE removes a gone front end's). */
const REPLY_STREAM_MAXLEN = 10_000;
/** How long a failed reply or acknowledgement is retried (longer than a failover), and how often. */
const RETRY_FOR_MS = 60_000;
const RETRY_EVERY_MS = 250;

type ExecReply = Array<[Error | null, unknown]> | null;

interface Ack {
  shard: number;
  entryId: string;
}

const ackOf = (d: Completed): Ack => ({ shard: d.job.shard ?? 0, entryId: d.job.entryId });

function check(replies: ExecReply): void {
  const failed = replies?.find(([err]) => err);
  if (!replies || failed) throw failed?.[0] ?? new Error('MULTI aborted');
}

export class ResultPublisher {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly replyTtlSeconds: number,
    /** Stamped on every result, so a front end can tell a result of another model from its own. */
    private readonly model?: string,
  ) {}

  /** Results waiting to be written or acknowledged again after a failure. */
  retrying = 0;

  async publish(done: Completed[]): Promise<void> {
    if (!this.redis.isCluster) {
      try {
        const tx = this.redis.multi();
        for (const [stream, results] of groupBy(done, (d) => d.job.env.replyTo)) this.addReplies(tx, stream, results);
        for (const [shard, acks] of groupBy(done.map(ackOf), (a) => a.shard)) this.addAcks(tx, shard, acks);
        check(await tx.exec());
      } catch (err) {
        this.retryInBackground(done, 'replies');
        throw err;
      }
      return;
    }
    try {
      await this.writeReplies(done);
    } catch (err) {
      this.retryInBackground(done, 'replies');
      throw err;
    }
    try {
      await this.acknowledge(done.map(ackOf));
    } catch (err) {
      this.retryInBackground(done, 'acks');
      throw err;
    }
  }

  private async writeReplies(done: Completed[]): Promise<void> {
    await Promise.all(
      [...groupBy(done, (d) => d.job.env.replyTo)].map(async ([stream, results]) => {
        const tx = this.redis.multi();
        this.addReplies(tx, stream, results);
        check(await tx.exec());
      }),
    );
  }

  private addReplies(tx: ChainableCommander, stream: string, results: Completed[]): void {
    for (const { result } of results)
      tx.xadd(
        stream,
        'MAXLEN',
        '~',
        REPLY_STREAM_MAXLEN,
        '*',
        RESULT_FIELD,
        packResult(this.model ? { ...result, model: this.model } : result),
      );
    tx.expire(stream, this.replyTtlSeconds);
  }

  /** Retries what failed, then the acknowledgements, every RETRY_EVERY_MS for at most RETRY_FOR_MS. */
  private retryInBackground(done: Completed[], from: 'replies' | 'acks'): void {
    this.retrying += done.length;
    const until = Date.now() + RETRY_FOR_MS;
    let step = from;
    const attempt = async (): Promise<void> => {
      try {
        if (step === 'replies') {
          const waited = done.filter((d) => d.job.env.deadline > Date.now());
          if (waited.length > 0) await this.writeReplies(waited);
          step = 'acks';
        }
        await this.acknowledge(done.map(ackOf));
        this.retrying -= done.length;
      } catch {
        if (Date.now() >= until) {
          this.retrying -= done.length;
          return;
        }
        setTimeout(() => void attempt(), RETRY_EVERY_MS).unref();
      }
    };
    setTimeout(() => void attempt(), RETRY_EVERY_MS).unref();
  }

  /** Acknowledges entries that cannot be answered (malformed envelopes). */
  async discard(entries: Ack[]): Promise<void> {
    await this.acknowledge(entries);
  }

  private async acknowledge(entries: Ack[]): Promise<void> {
    await Promise.all(
      [...groupBy(entries, (a) => a.shard)].map(async ([shard, acks]) => {
        const tx = this.redis.multi();
        this.addAcks(tx, shard, acks);
        check(await tx.exec());
      }),
    );
  }

  private addAcks(tx: ChainableCommander, shard: number, acks: Ack[]): void {
    const stream = this.keys.shards[shard]!.requests;
    const ids = acks.map((a) => a.entryId);
    tx.xack(stream, CONSUMER_GROUP, ...ids).xdel(stream, ...ids);
  }
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
