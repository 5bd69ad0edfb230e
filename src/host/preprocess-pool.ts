/**
 * The piscina pool of sharp workers that decode images into batch-buffer slots. A decode still running at its
 * request's deadline, or DECODE_TIMEOUT_MS after a worker began it, is abandoned: its slot claim is revoked (so it
 * can never write into the buffer) and its worker thread is ended through piscina's AbortSignal, which frees the
 * pool slot at once (piscina starts a replacement thread).
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { PreprocessOutcome, PreprocessTask, PreprocessWorkerData } from '../../workers/messages.ts';
import { SlotClaims } from '../../workers/slot-claims.ts';
import { errorCodes } from '../wire/errors.ts';

const BOOTSTRAP = fileURLToPath(new URL('../../workers/ts-entry.mjs', import.meta.url));
const ENTRY = new URL('../../workers/preprocess.ts', import.meta.url).href;

/** What the batcher asks for: decode this image into that slot, by this deadline (epoch ms). */
export interface PreprocessRequest {
  image: Uint8Array;
  buffer: number;
  slot: number;
  deadline: number;
}

export type PoolWorkerData = Omit<PreprocessWorkerData, 'slotsPerBuffer' | 'slotClaims' | 'slotStarts' | 'decodeTimeoutMs'>;

export interface PreprocessPoolOptions {
  threads: number;
  /** Slots per buffer (MAX_BATCH); the pool never has more tasks out than slots. */
  slotsPerBuffer: number;
  decodeTimeoutMs: number;
}

export class PreprocessPool {
  private readonly pool: Piscina<PreprocessTask, PreprocessOutcome>;
  private readonly claims: SlotClaims;
  private readonly decodeTimeoutMs: number;
  private nextToken = 0;
  /** Decodes abandoned so far (their threads ended). */
  abandoned = 0;

  constructor(opts: PreprocessPoolOptions, data: PoolWorkerData) {
    this.decodeTimeoutMs = opts.decodeTimeoutMs;
    this.claims = new SlotClaims(opts.slotsPerBuffer, { buffers: data.buffers.length });
    this.pool = new Piscina({
      filename: BOOTSTRAP,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      // The batcher never has more tasks out than it has slots, so this bound is never hit in practice.
      maxQueue: opts.slotsPerBuffer * data.buffers.length,
      workerData: {
        ...data, entry: ENTRY, slotsPerBuffer: opts.slotsPerBuffer, decodeTimeoutMs: opts.decodeTimeoutMs,
        slotClaims: this.claims.claims, slotStarts: this.claims.starts,
      },
    });
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
    const abort = new AbortController();
    return new Promise<PreprocessOutcome>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (outcome: PreprocessOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      // The bound counts from the decode's start in a worker, so time spent queued for a thread is not held against it.
      const check = () => {
        const now = Date.now();
        const startedAt = this.claims.startedAt(buffer, slot, token);
        const limit = Math.min(req.deadline, startedAt === undefined ? Infinity : startedAt + this.decodeTimeoutMs);
        if (now < limit) {
          // Not started yet: look again when it could have used up its decode time, or at the deadline.
          const next = startedAt === undefined ? Math.min(req.deadline, now + this.decodeTimeoutMs) : limit;
          timer = setTimeout(check, next - now);
          return;
        }
        // Already writing its pixels: the outcome is a millisecond away, so let it finish.
        if (!this.claims.abandon(buffer, slot, token)) return;
        this.abandoned++;
        abort.abort();
        const code = now >= req.deadline ? 'DEADLINE_EXCEEDED' : 'IMAGE_TOO_COMPLEX';
        settle({ ok: false, code, message: errorCodes[code].message, detail: `decode abandoned after ${startedAt === undefined ? 'queueing' : `${now - startedAt} ms`}` });
      };
      check();
      this.pool.run({ image: req.image, buffer, slot, token }, { signal: abort.signal }).then(settle, (err: Error) => {
        if (abort.signal.aborted) return; // settled by check()
        settle({ ok: false, code: 'INTERNAL', message: errorCodes.INTERNAL.message, detail: err.message });
      });
    });
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
