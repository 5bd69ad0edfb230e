/**
 * The batch buffers shared by the model host's threads: each is `slotsPerBuffer` (MAX_BATCH) slots of float32,
 * one image per slot, slot i starting at element i × slotElements. The main thread allocates them
 * (host/batch-buffers.ts), preprocessing workers write one slot each (workers/preprocess.ts), the inference
 * thread reads the first n slots as one batch tensor.
 */

export interface BatchSlotLayout {
  slotsPerBuffer: number;
  /** Float32 elements per image (H × W × C: model/metadata.ts imageElements). */
  slotElements: number;
}

export function bufferBytes(layout: BatchSlotLayout): number {
  return layout.slotsPerBuffer * layout.slotElements * Float32Array.BYTES_PER_ELEMENT;
}

/** First element of a slot; a slot outside the buffer is a programming error, refused rather than overrun. */
export function slotOffset(layout: BatchSlotLayout, slot: number): number {
  if (!Number.isInteger(slot) || slot < 0 || slot >= layout.slotsPerBuffer) {
    throw new RangeError(`slot ${slot} is outside a buffer of ${layout.slotsPerBuffer} slots`);
  }
  return slot * layout.slotElements;
}

/** The slot an element offset belongs to (slotOffset's inverse). */
export function slotAt(layout: BatchSlotLayout, element: number): number {
  return Math.floor(element / layout.slotElements);
}

/** A view of one slot of a buffer. */
export function slotView(buffer: SharedArrayBuffer, layout: BatchSlotLayout, slot: number): Float32Array {
  return new Float32Array(buffer, slotOffset(layout, slot) * Float32Array.BYTES_PER_ELEMENT, layout.slotElements);
}
