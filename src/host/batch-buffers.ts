/**
 * The shared memory between the preprocessing pool and the inference thread: BATCH_BUFFERS float32 buffers,
 * each MAX_BATCH slots of one model input, laid out as src/wire/batch-slots.ts defines.
 */
import { bufferBytes } from '../wire/batch-slots.ts';

export interface BatchBufferLayout {
  maxBatch: number;
  /** Float32 elements per image (H × W × C). */
  slotElements: number;
  count: number;
}

export class BatchBuffers {
  readonly buffers: SharedArrayBuffer[];
  private readonly free: number[];

  constructor(readonly layout: BatchBufferLayout) {
    const bytes = bufferBytes({ slotsPerBuffer: layout.maxBatch, slotElements: layout.slotElements });
    this.buffers = Array.from({ length: layout.count }, () => new SharedArrayBuffer(bytes));
    this.free = this.buffers.map((_, i) => i);
  }

  /** Takes a free buffer index, or undefined when every buffer is filling, waiting or running. */
  acquire(): number | undefined {
    return this.free.shift();
  }

  release(index: number): void {
    this.free.push(index);
  }

  get freeCount(): number {
    return this.free.length;
  }
}
