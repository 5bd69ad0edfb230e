/**
 * Who may write a batch-buffer slot, shared by the main thread and the preprocessing workers. Each slot has one
 * Int32 claim word holding the token of the task decoding into it. Before writing pixels the worker swaps the
 * token for its negation; to abandon a decode the main thread swaps it for FREE. Exactly one swap succeeds, so
 * an abandoned decode can never write into a slot (and the buffer can be reused at once), and a decode that has
 * begun writing is never abandoned (it finishes within a millisecond). A second word per slot holds the epoch ms
 * at which a worker began the decode, so its time bound counts from then, not from time spent queued.
 */

const FREE = 0;

export class SlotClaims {
  /** Int32 claim words, one per slot of every buffer. */
  readonly claims: SharedArrayBuffer;
  /** BigInt64 decode start times (epoch ms; 0 = not started), one per slot of every buffer. */
  readonly starts: SharedArrayBuffer;
  private readonly claimWords: Int32Array;
  private readonly startWords: BigInt64Array;

  constructor(
    private readonly slotsPerBuffer: number,
    shared: { claims: SharedArrayBuffer; starts: SharedArrayBuffer } | { buffers: number },
  ) {
    if ('buffers' in shared) {
      const slots = shared.buffers * slotsPerBuffer;
      this.claims = new SharedArrayBuffer(slots * Int32Array.BYTES_PER_ELEMENT);
      this.starts = new SharedArrayBuffer(slots * BigInt64Array.BYTES_PER_ELEMENT);
    } else {
      this.claims = shared.claims;
      this.starts = shared.starts;
    }
    this.claimWords = new Int32Array(this.claims);
    this.startWords = new BigInt64Array(this.starts);
  }

  private index(buffer: number, slot: number): number {
    return buffer * this.slotsPerBuffer + slot;
  }

  /** Main thread, before dispatching a task: the slot now belongs to `token` (a positive int32). */
  assign(buffer: number, slot: number, token: number): void {
    const i = this.index(buffer, slot);
    Atomics.store(this.startWords, i, 0n);
    Atomics.store(this.claimWords, i, token);
  }

  /** Worker, as its decode begins: records the start time if the slot is still this task's. */
  markStarted(buffer: number, slot: number, token: number): boolean {
    const i = this.index(buffer, slot);
    if (Atomics.load(this.claimWords, i) !== token) return false;
    Atomics.store(this.startWords, i, BigInt(Date.now()));
    return true;
  }

  /** Main thread: when the decode began (epoch ms), or undefined while the task still waits for a worker. */
  startedAt(buffer: number, slot: number, token: number): number | undefined {
    const i = this.index(buffer, slot);
    if (Math.abs(Atomics.load(this.claimWords, i)) !== token) return undefined;
    const at = Number(Atomics.load(this.startWords, i));
    return at > 0 ? at : undefined;
  }

  /** Worker, before writing pixels: true if it may write (the slot is still its own and not abandoned). */
  claimForWrite(buffer: number, slot: number, token: number): boolean {
    return Atomics.compareExchange(this.claimWords, this.index(buffer, slot), token, -token) === token;
  }

  /** Main thread: true if the decode is abandoned (it will never write); false if it is already writing. */
  abandon(buffer: number, slot: number, token: number): boolean {
    return Atomics.compareExchange(this.claimWords, this.index(buffer, slot), token, FREE) === token;
  }
}
