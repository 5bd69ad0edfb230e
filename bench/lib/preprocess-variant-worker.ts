/** piscina entry for the variant pools (loaded through workers/ts-entry.mjs like the product worker). */
import { workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { makePreprocessor, type Variant, type VariantData } from './preprocess-variants.ts';

sharp.cache(false);
const data = workerData as VariantData & { buffers: SharedArrayBuffer[]; variant: Variant };
const views = data.buffers.map((b) => new Float32Array(b));
const run = makePreprocessor(data.variant, data);
const slotSize = data.input.height * data.input.width * 3;

export default async function task(t: { image: Uint8Array; buffer: number; slot: number }): Promise<{ ok: true; ms: number }> {
  const started = performance.now();
  await run(t.image, views[t.buffer]!, t.slot * slotSize);
  return { ok: true, ms: performance.now() - started };
}
