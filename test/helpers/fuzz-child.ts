/**
 * Child process of the preprocessing fuzz test: runs every mutated image through the real preprocessing pool
 * (piscina worker threads, the decoders, our resize) and prints one JSON summary line. A native crash in a decoder
 * would end this process, not the test runner; the parent asserts that it exits normally.
 *   node --import tsx test/helpers/fuzz-child.ts <mutations per seed>
 */
import { resolve } from 'node:path';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import { PreprocessPool } from '../../src/host/preprocess-pool.ts';
import { imageElements, readMetadata } from '../../src/model/metadata.ts';
import { fuzzSeeds, mutations } from './fuzz-images.ts';

const perSeed = Number(process.argv[2] ?? 20);
const meta = await readMetadata(resolve('models/default'));
const SLOTS = 2;
const buffers = new BatchBuffers({ maxBatch: SLOTS, slotElements: imageElements(meta), count: 1 });
const pool = new PreprocessPool(
  { threads: 2, slotsPerBuffer: SLOTS, decodeTimeoutMs: 5000 },
  {
    buffers: buffers.buffers,
    input: meta.input,
    preprocessing: meta.preprocessing,
    settings: { maxInputPixels: 40_000_000, maxJpegScans: 100, jpegDctScaling: false },
  },
);
const cases = mutations(await fuzzSeeds(), perSeed);
const outcomes: Record<string, number> = {};
const results: Array<{ name: string; outcome: string }> = [];
for (let i = 0; i < cases.length; i += SLOTS) {
  const batch = cases.slice(i, i + SLOTS);
  const done = await Promise.all(
    batch.map((c, slot) => pool.run({ image: c.bytes, buffer: 0, slot, deadline: Date.now() + 30_000 })),
  );
  done.forEach((o, k) => {
    const outcome = o.ok ? 'ok' : o.code;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    results.push({ name: batch[k]!.name, outcome });
  });
}
await pool.close();
process.stdout.write(JSON.stringify({ cases: cases.length, outcomes, results }) + '\n');
