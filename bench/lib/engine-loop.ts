/**
 * One inference thread's worth of work for bench/inference-threads.ts: loads the given models' engines in this
 * process and runs their batches one after another (round robin) for a fixed time, as one shared inference
 * thread would; prints, per model, images per second and the time from one of its batches to the next.
 *
 *   node --import tsx bench/lib/engine-loop.ts <durationMs> <batch> <modelDir>...
 */
import { loadEngine } from '../../src/model/load-engine.ts';
import { readMetadata, imageElements } from '../../src/model/metadata.ts';

const [durationMs, batch, ...dirs] = [Number(process.argv[2]), Number(process.argv[3]), ...process.argv.slice(4)];
const models = await Promise.all(
  dirs.map(async (dir) => {
    const meta = await readMetadata(dir);
    const { engine } = await loadEngine({ modelDir: dir, meta, engine: 'auto', intraOpThreads: 1 });
    const input = new Float32Array(batch * imageElements(meta)).fill(0.5);
    await engine.run(input, batch);
    return { dir, engine, input, images: 0, gaps: [] as number[], last: 0 };
  }),
);
const started = performance.now();
while (performance.now() - started < durationMs) {
  for (const m of models) {
    await m.engine.run(m.input, batch);
    const now = performance.now();
    if (m.last) m.gaps.push(now - m.last);
    m.last = now;
    m.images += batch;
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  JSON.stringify(
    models.map((m) => ({
      model: m.dir.split('/').pop(),
      imagesPerS: m.images / seconds,
      meanGapMs: m.gaps.reduce((a, b) => a + b, 0) / Math.max(1, m.gaps.length),
    })),
  ),
);
