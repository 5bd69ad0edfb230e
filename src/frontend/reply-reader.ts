/**
 * Reads this front end's reply stream on a dedicated blocking connection and hands each result to the waiting
 * request. It resumes from the last id it saw, so a reconnect loses no reply.
 */
import { RESULT_FIELD } from '../wire/keys.ts';
import { unpackResult } from '../wire/envelope.ts';
import type { Logger } from '../observability/logger.ts';
import { BLOCKING_READ_MS, whenReady, type RedisClient } from '../redis/connect.ts';
import type { PendingRequests } from './pending.ts';

type RawEntry = [Buffer, Buffer[]];

export class ReplyReader {
  private stopped = false;
  private lastId = '$';
  private loop: Promise<void> | undefined;
  /** Results that arrived for requests no longer waiting (duplicates, late, client gone). */
  discarded = 0;

  constructor(
    private readonly blocking: RedisClient,
    private readonly stream: string,
    private readonly pending: PendingRequests,
    private readonly log: Logger,
  ) {}

  /** Resolves once the first read is issued, so no reply written after start() is missed. */
  async start(): Promise<void> {
    // '$' would skip replies written between two reads; pin the position to the stream's current end once.
    const last = (await this.blocking.xrevrange(this.stream, '+', '-', 'COUNT', 1))[0];
    this.lastId = last ? last[0] : '0-0';
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.blocking.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const reply = (await this.blocking.xreadBuffer(
          'COUNT',
          1000,
          'BLOCK',
          BLOCKING_READ_MS,
          'STREAMS',
          this.stream,
          this.lastId,
        )) as Array<[Buffer, RawEntry[]]> | null;
        for (const [rawId, fields] of reply?.[0]?.[1] ?? []) {
          this.lastId = rawId.toString();
          const [field, value] = fields;
          const result = field?.toString() === RESULT_FIELD && value ? unpackResult(value) : undefined;
          if (!result) {
            this.log.error({ entry: this.lastId }, 'malformed reply entry');
            continue;
          }
          if (!this.pending.settle(result.id, { kind: 'result', result })) {
            // Answered already (a re-delivered request answered twice), past its deadline, or its client gone.
            this.discarded++;
            this.log.debug({ requestId: result.id }, 'discarded a result nobody waits for');
          }
        }
      } catch (err) {
        if (this.stopped) break;
        this.log.warn({ err: (err as Error).message }, 'reply stream read failed; waiting for redis');
        // Bounded, so a connection that never comes back does not park the loop forever.
        await whenReady(this.blocking, 2000).catch(() => {});
      }
    }
  }
}
