/**
 * piscina task: decode one encoded image and write the model-ready float32 pixels straight into its slot of a
 * shared batch buffer (src/preprocess/). Returns only a small status; a bad image fails its own request, nothing else.
 */
import { workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { createPreprocessor } from '../src/preprocess/preprocess-image.ts';
import { PreprocessError } from '../src/preprocess/preprocess-error.ts';
import type { PreprocessOutcome, PreprocessTask, PreprocessWorkerData } from '../src/wire/worker-messages.ts';
import { SlotClaims } from '../src/wire/slot-claims.ts';
import { imageElements } from '../src/model/metadata.ts';
import { slotOffset } from '../src/wire/batch-slots.ts';

// One libvips thread per pool worker: the pool itself is the parallelism, and the cache only costs memory here.
sharp.concurrency(1);
sharp.cache(false);

const { buffers, input, preprocessing, settings, slotsPerBuffer, slotClaims, slotStarts, decodeTimeoutMs } =
  workerData as PreprocessWorkerData;
const claims = new SlotClaims(slotsPerBuffer, { claims: slotClaims, starts: slotStarts });
const views = buffers.map((b) => new Float32Array(b));
const layout = { slotsPerBuffer, slotElements: imageElements({ input }) };
// libvips checks its timeout only now and then, in whole seconds: it ends the native work of a decode the pool
// has already abandoned (ending this thread cannot stop native code), so that CPU is not burnt for nothing.
const preprocessInto = createPreprocessor(
  { input, preprocessing },
  { ...settings, decodeTimeoutS: Math.ceil(decodeTimeoutMs / 1000) },
);

/** The pool gave up on this task (its deadline or decode bound passed); nobody reads this answer. */
const abandoned: PreprocessOutcome = {
  ok: false,
  code: 'DEADLINE_EXCEEDED',
  message: 'abandoned',
  detail: 'abandoned',
};

export default async function preprocess(task: PreprocessTask): Promise<PreprocessOutcome> {
  const started = performance.now();
  if (!claims.markStarted(task.buffer, task.slot, task.token)) return abandoned;
  try {
    const view = views[task.buffer];
    if (!view) throw new Error(`no batch buffer ${task.buffer} (${views.length} shared)`);
    const claim = () => claims.claimForWrite(task.buffer, task.slot, task.token);
    const decoder = await preprocessInto(task.image, view, slotOffset(layout, task.slot), claim);
    if (decoder === undefined) return abandoned;
    return { ok: true, ms: performance.now() - started, decoder };
  } catch (err) {
    const e = PreprocessError.fromDecoder(err, settings.maxInputPixels);
    return { ok: false, code: e.code, message: e.clientMessage, detail: e.detail };
  }
}

/** Answers PreprocessPool.started(): this module has loaded, so the thread can decode. */
export function ready(): boolean {
  return true;
}
