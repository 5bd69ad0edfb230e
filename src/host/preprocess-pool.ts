/**
 * The piscina pool of sharp workers that decode images into batch-buffer slots.
 *
 * Slow images are isolated: at most PREPROCESS_THREADS decodes run at once, but a decode running longer than
 * STRAGGLER_WAIT_MS stops counting against that, and the next image starts on one of STRAGGLER_THREADS spare
 * threads. So up to STRAGGLER_THREADS slow images at once take no decode thread from the others.
 *
 * A decode still running at its request's deadline, or DECODE_TIMEOUT_MS after a worker began it, is abandoned:
 * its slot claim is revoked (so it can never write into the buffer) and its request answered at once. Its thread
 * is not ended: that would not stop a native decoder (Worker.terminate() resolves only when the decode returns;
 * measured 8.5 s for a 2000-scan JPEG), and a replacement thread would compete with it for the cores and libuv's
 * threads. So the thread stays counted, as slow, until the decoder returns (libvips' timeout, or the end of work
 * bounded by MAX_INPUT_PIXELS and MAX_JPEG_SCANS).
 */
import { Piscina } from 'piscina';
import type { PreprocessOutcome, PreprocessTask, PreprocessWorkerData } from '../wire/worker-messages.ts';
import { SlotClaims } from '../wire/slot-claims.ts';
import { errorCodes } from '../wire/errors.ts';
import { workerScript } from '../build/layout.ts';
import { DeadlineQueue, type Deadline } from '../system/deadline-queue.ts';

const SCRIPT = workerScript('workers/preprocess.ts');

/** What the batcher asks for: decode this image into that slot, by this deadline (epoch ms). */
export interface PreprocessRequest {
  image: Uint8Array;
  buffer: number;
  slot: number;
  deadline: number;
}

/**
 * The image as bytes that own their whole ArrayBuffer, to be moved to the worker (transferred, not cloned). A
 * Redis reply's image that spans socket reads is already such a buffer (the reply decoder joined it) and moves as
 * it is; one that is a view into a larger buffer (a socket read holding other entries, Node's small-buffer pool) is
 * copied once, exactly its own bytes: a clone would carry the whole backing buffer, and a transfer would take it
 * from its other users. After the move the caller's view is empty (detached): the image is read by the worker only.
 */
export function ownedBytes(image: Uint8Array): Uint8Array {
  const whole =
    image.byteOffset === 0 && image.byteLength === image.buffer.byteLength && image.buffer instanceof ArrayBuffer;
  return whole ? image : new Uint8Array(image);
}

export type PoolWorkerData = Omit<
  PreprocessWorkerData,
  'slotsPerBuffer' | 'slotClaims' | 'slotStarts' | 'decodeTimeoutMs'
>;

export interface PreprocessPoolOptions {
  /** Decodes running at once, not counting slow ones. */
  threads: number;
  /** Spare threads for slow decodes (default none), and how long a decode runs before it counts as slow. */
  stragglerThreads?: number;
  stragglerMs?: number;
  /** Slots per buffer (MAX_BATCH); the pool never has more tasks out than slots. */
  slotsPerBuffer: number;
  decodeTimeoutMs: number;
  /** A thread failed outside any task (piscina's 'error' event, which would otherwise end the process). */
  onError?: (err: Error) => void;
}

export class PreprocessPool {
  private readonly pool: Piscina<PreprocessTask, PreprocessOutcome>;
  private readonly claims: SlotClaims;
  private readonly opts: Required<PreprocessPoolOptions>;
  private readonly decodeTimeoutMs: number;
  private nextToken = 0;
  private running = 0;
  private runningSlow = 0;
  /** Tasks waiting for a thread; ours rather than piscina's queue, so slow decodes can be left out of the count. */
  private readonly waiting: Array<() => void> = [];
  /** Every decode's deadline and straggler mark, on one timer. */
  private readonly deadlines = new DeadlineQueue();
  /** Decodes abandoned so far (answered before they finished). */
  abandoned = 0;

  constructor(opts: PreprocessPoolOptions, data: PoolWorkerData) {
    this.decodeTimeoutMs = opts.decodeTimeoutMs;
    this.opts = { stragglerThreads: 0, stragglerMs: 250, onError: () => {}, ...opts };
    this.claims = new SlotClaims(opts.slotsPerBuffer, { buffers: data.buffers.length });
    this.pool = new Piscina({
      filename: SCRIPT.filename,
      // Spare threads are started up front: starting one (tsx, sharp) takes longer than the images it is meant for.
      minThreads: opts.threads + this.opts.stragglerThreads,
      maxThreads: opts.threads + this.opts.stragglerThreads,
      // The batcher never has more tasks out than it has slots, so this bound is never hit in practice.
      maxQueue: opts.slotsPerBuffer * data.buffers.length,
      workerData: {
        ...data,
        entry: SCRIPT.entry,
        slotsPerBuffer: opts.slotsPerBuffer,
        decodeTimeoutMs: opts.decodeTimeoutMs,
        slotClaims: this.claims.claims,
        slotStarts: this.claims.starts,
      },
    });
    this.pool.on('error', (err: Error) => this.opts.onError(err));
  }

  /**
   * Resolves once a thread has loaded the decode worker; rejects with the reason when threads fail to start (a
   * model version's load then fails with it, instead of piscina's 'error' event ending the process).
   */
  async started(): Promise<void> {
    // The worker's named export `ready` takes no task: the cast only satisfies the pool's task type.
    await this.pool.run(undefined as unknown as PreprocessTask, { name: 'ready' });
  }

  /**
   * Decodes one image into its slot. Resolves only once nothing can write into the slot any more: with the
   * worker's outcome, or with DEADLINE_EXCEEDED / IMAGE_TOO_COMPLEX when the decode was abandoned.
   */
  run(req: PreprocessRequest): Promise<PreprocessOutcome> {
    this.nextToken = this.nextToken >= 0x7fffffff ? 1 : this.nextToken + 1;
    const token = this.nextToken;
    const { buffer, slot } = req;
    this.claims.assign(buffer, slot, token);
    return new Promise<PreprocessOutcome>((resolve) => {
      let settled = false;
      // Both of a decode's time checks are entries of the pool's one deadline queue, not timers of their own.
      const checkAt: Deadline = { at: 0, queueIndex: -1, expire: () => check() };
      const settle = (outcome: PreprocessOutcome) => {
        if (settled) return;
        settled = true;
        this.deadlines.remove(checkAt);
        resolve(outcome);
      };
      // The bound counts from the decode's start in a worker, so time spent queued for a thread is not held against it.
      const check = () => {
        const now = Date.now();
        const startedAt = this.claims.startedAt(buffer, slot, token);
        const limit = Math.min(req.deadline, startedAt === undefined ? Infinity : startedAt + this.decodeTimeoutMs);
        if (now < limit) {
          // Not started yet: look again when it could have used up its decode time, or at the deadline.
          checkAt.at = startedAt === undefined ? Math.min(req.deadline, now + this.decodeTimeoutMs) : limit;
          this.deadlines.add(checkAt);
          return;
        }
        // Already writing its pixels: the outcome is a millisecond away, so let it finish.
        if (!this.claims.abandon(buffer, slot, token)) return;
        this.abandoned++;
        const code = now >= req.deadline ? 'DEADLINE_EXCEEDED' : 'IMAGE_TOO_COMPLEX';
        const after = startedAt === undefined ? 'queueing' : `${now - startedAt} ms`;
        settle({ ok: false, code, message: errorCodes[code].message, detail: `decode abandoned after ${after}` });
      };
      check();
      const start = () => {
        if (settled) return; // abandoned while waiting for a thread
        this.running++;
        let slow = false;
        const slowAt: Deadline = {
          at: Date.now() + this.opts.stragglerMs,
          queueIndex: -1,
          expire: () => {
            slow = true;
            this.runningSlow++;
            this.startWaiting();
          },
        };
        this.deadlines.add(slowAt);
        const done = () => {
          this.deadlines.remove(slowAt);
          this.running--;
          if (slow) this.runningSlow--;
          this.startWaiting();
        };
        // After an abandonment, settle() ignores what the decoder answers (it wrote nothing: see SlotClaims).
        const image = ownedBytes(req.image);
        this.pool.run({ image, buffer, slot, token }, { transferList: [image.buffer as ArrayBuffer] }).then(
          (outcome) => {
            done();
            settle(outcome);
          },
          (err: Error) => {
            done();
            settle({ ok: false, code: 'INTERNAL', message: errorCodes.INTERNAL.message, detail: err.message });
          },
        );
      };
      if (this.canStart()) start();
      else this.waiting.push(start);
    });
  }

  private canStart(): boolean {
    const { threads, stragglerThreads } = this.opts;
    return this.running - this.runningSlow < threads && this.running < threads + stragglerThreads;
  }

  private startWaiting(): void {
    while (this.waiting.length > 0 && this.canStart()) this.waiting.shift()!();
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
