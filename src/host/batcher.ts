/**
 * The dynamic batcher trades a little latency for throughput. A batch lives in one shared buffer and goes
 * through these states:
 *
 *   filling  takes requests into its slots; each slot is sent to the preprocessing pool as soon as it is taken.
 *   closed   takes no more requests; waits until its slots are preprocessed and the inference thread is free.
 *   running  the inference thread reads its buffer; results are then published. The buffer is freed, or, if
 *            some of its images were still decoding (stragglers), the batch goes back to closed for them.
 *
 * A filling batch closes when it is full, or when the engine has nothing running or queued and the batch's
 * oldest request has waited MAX_BATCH_DELAY_MS (its images may still be decoding; it runs when they are done).
 * So a lone request runs as soon as it is decoded, and under load the next batch fills while one runs.
 * One batch runs at a time (one inference thread): the oldest closed batch whose images are all decoded, else the
 * oldest that has decoded images and has waited STRAGGLER_WAIT_MS since it closed. So a slow image never holds
 * back the images decoded beside it, nor any later batch: a closed batch waiting only for stragglers is not
 * "queued" work. A straggler ends by its request's deadline or DECODE_TIMEOUT_MS at the latest (the pool
 * abandons it, and resolves only once it can no longer write), so no buffer is held longer than that.
 * Requests past their deadline are answered 504 instead of costing inference; an image that fails to decode
 * fails alone.
 */
import type { RequestEnvelope, Result } from '../wire/envelope.ts';
import type { BatchBuffers } from './batch-buffers.ts';
import type { BatchScores } from './inference-client.ts';
import type { PreprocessOutcome } from '../wire/worker-messages.ts';
import { errorCodes } from '../wire/errors.ts';
import { scoreRow } from './top-k.ts';
import { topK } from '../model/rank.ts';

export interface Job {
  /** Stream entry id, acknowledged once the result is published. */
  entryId: string;
  env: RequestEnvelope;
  /** Index of the request shard (stream) the entry came from; 0 when there is one. */
  shard?: number;
}

/** What the batcher asks for: this request's input into that slot of that buffer, by this deadline (epoch ms). */
export interface SlotFill {
  env: RequestEnvelope;
  /** The request's stream entry id ("<ms>-<seq>": when Redis queued it). */
  entryId: string;
  buffer: number;
  slot: number;
  deadline: number;
}

export interface Completed {
  job: Job;
  result: Result;
}

export interface BatchStats {
  size: number;
  inferenceMs: number;
  /** ms from the batch's first request to the start of its inference. */
  formingMs: number;
}

export interface BatcherDeps {
  buffers: BatchBuffers;
  labels: readonly string[];
  maxBatchDelayMs: number;
  /** A closed batch runs its decoded images after waiting this long for the rest. */
  stragglerWaitMs: number;
  /**
   * Writes a request's input (a decoded image, or an Open Inference Protocol tensor copied as is) into its slot.
   * Must resolve only once nothing can write into the slot any more (the pool abandons a decode at the deadline).
   */
  preprocess(fill: SlotFill): Promise<PreprocessOutcome>;
  /** Runs the first n slots of a buffer; `jobs` are the requests in it (for tracing). */
  infer(buffer: number, n: number, jobs: readonly Job[]): Promise<BatchScores>;
  /** Publishes results and acknowledges their entries; the batcher waits for it before freeing a buffer. */
  complete(done: Completed[]): Promise<void>;
  onBatch?(stats: BatchStats): void;
  onPreprocess?(ms: number, ok: boolean): void;
  onError(err: Error, context: string): void;
}

type SlotState = 'prepping' | 'ready' | 'finished';

interface Slot {
  job: Job;
  state: SlotState;
  preprocessMs: number;
}

interface Batch {
  buffer: number;
  slots: Slot[];
  openedAt: number;
  closedAt: number;
  prepping: number;
}

export class Batcher {
  private filling: Batch | undefined;
  private readonly closed: Batch[] = [];
  private running: Batch | undefined;
  private delayTimer: NodeJS.Timeout | undefined;
  /** Wakes the batcher when a closed batch has waited STRAGGLER_WAIT_MS for its slowest images. */
  private stragglerTimer: NodeJS.Timeout | undefined;
  private stragglerWakeAt = Number.POSITIVE_INFINITY;
  private capacityWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  /** Results published one by one (decode failures, expired requests), awaited by drain(). */
  private readonly soloPublishes = new Set<Promise<void>>();
  /**
   * Jobs taken while no buffer was free. The consumer reads capacity() entries before a blocking read that can
   * last seconds; meanwhile the filling batch may close with no buffer free. Those entries are already delivered
   * to this host, so they wait here for the next free buffer instead of being dropped.
   */
  private readonly backlog: Job[] = [];
  private readonly maxBatch: number;

  constructor(private readonly deps: BatcherDeps) {
    this.maxBatch = deps.buffers.layout.maxBatch;
  }

  /** Requests that can be taken right now without waiting for a buffer. */
  capacity(): number {
    const free = this.filling
      ? this.maxBatch - this.filling.slots.length
      : this.deps.buffers.freeCount > 0
        ? this.maxBatch
        : 0;
    return Math.max(0, free - this.backlog.length);
  }

  /** Resolves as soon as capacity() > 0. */
  whenCapacity(): Promise<void> {
    if (this.capacity() > 0) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Requests held: in slots of filling, closed or running batches. */
  get inFlight(): number {
    const count = (b: Batch | undefined) => (b ? b.slots.filter((s) => s.state !== 'finished').length : 0);
    return (
      count(this.filling) + this.closed.reduce((n, b) => n + count(b), 0) + count(this.running) + this.backlog.length
    );
  }

  /** Takes jobs; the caller reads no more than capacity() from Redis. Jobs beyond a free buffer wait in the backlog. */
  add(jobs: Job[]): void {
    const now = Date.now();
    for (const job of jobs) {
      if (job.env.deadline <= now) {
        this.finishAlone(job, this.failure(job, 'DEADLINE_EXCEEDED'));
        continue;
      }
      const batch = this.backlog.length > 0 ? undefined : (this.filling ?? this.open(now));
      if (!batch) {
        this.backlog.push(job);
        continue;
      }
      const slot: Slot = { job, state: 'prepping', preprocessMs: 0 };
      const index = batch.slots.push(slot) - 1;
      batch.prepping++;
      this.deps
        .preprocess({
          env: job.env,
          entryId: job.entryId,
          buffer: batch.buffer,
          slot: index,
          deadline: job.env.deadline,
        })
        .then((outcome) => this.onPrepared(batch, slot, outcome))
        .catch((err: Error) =>
          this.onPrepared(batch, slot, {
            ok: false,
            code: 'INTERNAL',
            message: errorCodes.INTERNAL.message,
            detail: err.message,
          }),
        );
      if (batch.slots.length === this.maxBatch) this.close(batch);
    }
    this.pump();
  }

  /** Closes the filling batch and resolves when every batch has run and published. */
  async drain(): Promise<void> {
    if (this.filling) this.close(this.filling);
    this.pump();
    if (this.running || this.closed.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.all(this.soloPublishes);
  }

  private open(now: number): Batch | undefined {
    const buffer = this.deps.buffers.acquire();
    if (buffer === undefined) return undefined;
    this.filling = { buffer, slots: [], openedAt: now, closedAt: 0, prepping: 0 };
    return this.filling;
  }

  private close(batch: Batch): void {
    if (this.filling !== batch) return;
    this.filling = undefined;
    clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    batch.closedAt = Date.now();
    this.closed.push(batch);
    this.notifyCapacity();
  }

  private onPrepared(batch: Batch, slot: Slot, outcome: PreprocessOutcome): void {
    batch.prepping--;
    slot.preprocessMs = outcome.ok ? outcome.ms : 0;
    this.deps.onPreprocess?.(slot.preprocessMs, outcome.ok);
    if (outcome.ok) {
      slot.state = 'ready';
    } else {
      // Its slot stays a hole in the buffer; the batch still runs for the others.
      slot.state = 'finished';
      if (outcome.code === 'INTERNAL') this.deps.onError(new Error(outcome.detail), `preprocess ${slot.job.env.id}`);
      this.finishAlone(
        slot.job,
        { id: slot.job.env.id, ok: false, code: outcome.code, message: outcome.message },
        outcome.detail,
      );
    }
    this.pump();
  }

  /** Moves batches forward: closes the filling one when it should, starts the next runnable closed one. */
  private pump(): void {
    const now = Date.now();
    const f = this.filling;
    // "Engine idle" means nothing is running or queued for it. Then the filling batch stops taking requests once
    // its oldest has waited the delay, even if some of its images are still decoding: requests arriving after
    // that decode into the next buffer while this batch runs, instead of holding this one (and the engine) back.
    if (f && f.slots.length > 0 && !this.running && !this.closed.some((b) => this.queued(b, now))) {
      const waited = now - f.openedAt;
      if (waited >= this.deps.maxBatchDelayMs) {
        this.close(f);
      } else if (!this.delayTimer) {
        this.delayTimer = setTimeout(() => {
          this.delayTimer = undefined;
          this.pump();
        }, this.deps.maxBatchDelayMs - waited);
      }
    }
    if (!this.running) {
      const next =
        this.closed.find((b) => b.prepping === 0) ?? this.closed.find((b) => this.hasReady(b) && this.overdue(b, now));
      if (next) {
        this.closed.splice(this.closed.indexOf(next), 1);
        void this.run(next);
      } else if (this.closed.length === 0 && !this.filling && this.backlog.length === 0) {
        this.notifyIdle();
      }
    }
    this.armStragglerTimer(now);
  }

  private hasReady(batch: Batch): boolean {
    return batch.slots.some((s) => s.state === 'ready');
  }

  /** It has waited its STRAGGLER_WAIT_MS: what is decoded may run without the rest. */
  private overdue(batch: Batch, now: number): boolean {
    return now - batch.closedAt >= this.deps.stragglerWaitMs;
  }

  /** Work the engine will get soon; a batch holding only overdue stragglers is not (it may wait seconds). */
  private queued(batch: Batch, now: number): boolean {
    return batch.prepping === 0 || this.hasReady(batch) || !this.overdue(batch, now);
  }

  private armStragglerTimer(now: number): void {
    let wakeAt = Number.POSITIVE_INFINITY;
    for (const b of this.closed) {
      if (b.prepping > 0 && !this.overdue(b, now)) wakeAt = Math.min(wakeAt, b.closedAt + this.deps.stragglerWaitMs);
    }
    if (wakeAt === this.stragglerWakeAt) return;
    clearTimeout(this.stragglerTimer);
    this.stragglerTimer = undefined;
    this.stragglerWakeAt = wakeAt;
    if (wakeAt === Number.POSITIVE_INFINITY) return;
    this.stragglerTimer = setTimeout(() => {
      this.stragglerTimer = undefined;
      this.stragglerWakeAt = Number.POSITIVE_INFINITY;
      this.pump();
    }, wakeAt - now);
  }

  private async run(batch: Batch): Promise<void> {
    this.running = batch;
    const startedAt = Date.now();
    const done: Completed[] = [];
    // Expired requests are answered instead of inferred; if nothing live is left the model is not run at all.
    for (const slot of batch.slots) {
      if (slot.state === 'ready' && slot.job.env.deadline <= startedAt) {
        slot.state = 'finished';
        done.push({ job: slot.job, result: this.failure(slot.job, 'DEADLINE_EXCEEDED') });
      }
    }
    // Fixed now: a straggler that finishes decoding while this runs was not in the input, and waits for a later pass.
    const live = batch.slots.flatMap((slot, row) => (slot.state === 'ready' ? [{ slot, row }] : []));
    try {
      if (live.length > 0) {
        // Rows after the last decoded image are not computed (stragglers or holes at the end).
        const n = live[live.length - 1]!.row + 1;
        const { scores, ms } = await this.deps.infer(
          batch.buffer,
          n,
          live.map((l) => l.slot.job),
        );
        this.deps.onBatch?.({ size: n, inferenceMs: ms, formingMs: startedAt - batch.openedAt });
        live.forEach(({ slot, row }) => {
          slot.state = 'finished';
          const predictions = topK(scores, row, this.deps.labels, slot.job.env.topk);
          const all = slot.job.env.scores ? scoreRow(scores, row, this.deps.labels.length) : undefined;
          const timings = { preprocessMs: slot.preprocessMs, inferenceMs: ms, batchSize: n };
          done.push({
            job: slot.job,
            result: { id: slot.job.env.id, ok: true, predictions, ...(all && { scores: all }), timings },
          });
        });
      }
    } catch (err) {
      this.deps.onError(err as Error, `inference of a batch of ${batch.slots.length}`);
      for (const { slot } of live) {
        slot.state = 'finished';
        done.push({ job: slot.job, result: this.failure(slot.job, 'INTERNAL') });
      }
    }
    try {
      if (done.length > 0) await this.deps.complete(done);
    } catch (err) {
      // Unacknowledged entries stay pending in the group and are re-claimed later; nothing is lost.
      this.deps.onError(err as Error, `publishing ${done.length} results`);
    }
    this.running = undefined;
    if (batch.slots.some((slot) => slot.state !== 'finished')) {
      // Ran without its stragglers: it keeps its buffer (they still decode into it) and runs again for them.
      this.closed.push(batch);
    } else {
      this.deps.buffers.release(batch.buffer);
      if (this.backlog.length > 0) this.add(this.backlog.splice(0));
    }
    this.notifyCapacity();
    this.pump();
  }

  private finishAlone(job: Job, result: Result, detail?: string): void {
    const publish = this.deps
      .complete([{ job, result }])
      .catch((err: Error) =>
        this.deps.onError(err, `publishing result of ${job.env.id}${detail ? ` (${detail})` : ''}`),
      )
      .finally(() => this.soloPublishes.delete(publish));
    this.soloPublishes.add(publish);
  }

  private failure(job: Job, code: 'DEADLINE_EXCEEDED' | 'INTERNAL'): Result {
    return { id: job.env.id, ok: false, code, message: errorCodes[code].message };
  }

  private notifyCapacity(): void {
    if (this.capacity() === 0) return;
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const w of waiters) w();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
