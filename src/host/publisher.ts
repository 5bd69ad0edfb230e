/**
 * Writes results to the reply streams of the front ends that hold the requests, and acknowledges and deletes
 * their request entries, all in one MULTI: a result is never acknowledged without being written.
 */
import type { Redis } from 'ioredis';
import { ENVELOPE_FIELD, CONSUMER_GROUP, type Keys } from '../wire/keys.ts';
import { packResult } from '../wire/envelope.ts';
import type { Completed } from './batcher.ts';

/** Reply streams are read as they are written; this only bounds one whose front end has gone. */
const REPLY_STREAM_MAXLEN = 10_000;

export class ResultPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly replyTtlSeconds: number,
  ) {}

  async publish(done: Completed[]): Promise<void> {
    const tx = this.redis.multi();
    const replyStreams = new Set<string>();
    for (const { job, result } of done) {
      tx.xadd(job.env.replyTo, 'MAXLEN', '~', REPLY_STREAM_MAXLEN, '*', ENVELOPE_FIELD, packResult(result));
      replyStreams.add(job.env.replyTo);
    }
    for (const stream of replyStreams) tx.expire(stream, this.replyTtlSeconds);
    const ids = done.map((d) => d.job.entryId);
    tx.xack(this.keys.requests, CONSUMER_GROUP, ...ids);
    tx.xdel(this.keys.requests, ...ids);
    const replies = await tx.exec();
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw failed?.[0] ?? new Error('MULTI aborted');
  }

  /** Acknowledges entries that cannot be answered (malformed envelopes). */
  async discard(entryIds: string[]): Promise<void> {
    await this.redis.multi().xack(this.keys.requests, CONSUMER_GROUP, ...entryIds).xdel(this.keys.requests, ...entryIds).exec();
  }
}
