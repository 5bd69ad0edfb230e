/**
 * Writes results to the reply streams of the front ends that hold the requests, then acknowledges and deletes
 * their request entries. Reply streams and request shards live in different Redis Cluster slots, so this is one
 * MULTI per reply stream and then one per shard; the order keeps the promise that a result is never
 * acknowledged without being written (a host dying in between leaves the entry to be re-claimed and answered
 * twice; the front end drops the second answer).
 *
 * A step that fails (a primary failing over, a partition) is retried in the background for RETRY_FOR_MS, not
 * awaited by the batcher: other hosts never re-claim a live host's entries, so an entry this host fails to
 * acknowledge would otherwise stay in its shard for good, counting against admission. Replies are retried only
 * while someone may still wait for them (before the request's deadline).
 */
import { RESULT_FIELD, CONSUMER_GROUP, type Keys } from '../wire/keys.ts';
import { packResult } from '../wire/envelope.ts';
import type { RedisClient } from '../redis/connect.ts';
import type { Completed } from './batcher.ts';

/** Front ends read their reply stream without trimming it: this bounds every one (EXPIRE removes a gone front end's). */
const REPLY_STREAM_MAXLEN = 10_000;
/** How long a failed reply or acknowledgement is retried (longer than a failover), and how often. */
const RETRY_FOR_MS = 60_000;
const RETRY_EVERY_MS = 250;

type ExecReply = Array<[Error | null, unknown]> | null;

const ackOf = (d: Completed) => ({ shard: d.job.shard ?? 0, entryId: d.job.entryId });

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
    const byStream = new Map<string, Completed[]>();
    for (const d of done) {
      const list = byStream.get(d.job.env.replyTo);
      if (list) list.push(d);
      else byStream.set(d.job.env.replyTo, [d]);
    }
    await Promise.all(
      [...byStream].map(async ([stream, results]) => {
        const tx = this.redis.multi();
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
        check(await tx.exec());
      }),
    );
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
  async discard(entries: Array<{ shard: number; entryId: string }>): Promise<void> {
    await this.acknowledge(entries);
  }

  private async acknowledge(entries: Array<{ shard: number; entryId: string }>): Promise<void> {
    const byShard = new Map<number, string[]>();
    for (const { shard, entryId } of entries) {
      const ids = byShard.get(shard);
      if (ids) ids.push(entryId);
      else byShard.set(shard, [entryId]);
    }
    await Promise.all(
      [...byShard].map(async ([shard, ids]) => {
        const stream = this.keys.shards[shard]!.requests;
        check(
          await this.redis
            .multi()
            .xack(stream, CONSUMER_GROUP, ...ids)
            .xdel(stream, ...ids)
            .exec(),
        );
      }),
    );
  }
}
