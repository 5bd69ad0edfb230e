/**
 * The inference thread: owns the engine and the model, and runs one batch at a time over a view of a shared
 * batch buffer. Loads and warms the model up (batch 1 and the largest batch) before saying it is ready.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadEngine } from '../src/model/load-engine.ts';
import { readMetadata } from '../src/model/metadata.ts';
import type { FromInference, InferenceWorkerData, ToInference } from '../src/wire/worker-messages.ts';

const data = workerData as InferenceWorkerData;
const port = parentPort!;
const post = (msg: FromInference, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

async function main(): Promise<void> {
  const loadStart = performance.now();
  const meta = await readMetadata(data.modelDir);
  const { engine, fallbackReason } = await loadEngine({
    modelDir: data.modelDir,
    meta,
    engine: data.engine,
    intraOpThreads: data.intraOpThreads,
    tfjsBackend: data.tfjsBackend,
  });
  const loadMs = performance.now() - loadStart;
  const views = data.buffers.map((b) => new Float32Array(b));

  const warmStart = performance.now();
  const warmupView = views[0];
  if (!warmupView) throw new Error('the host shared no batch buffers');
  for (const n of new Set([1, data.maxBatch])) await engine.run(warmupView, n);
  post({ type: 'ready', info: engine.info, fallbackReason, loadMs, warmupMs: performance.now() - warmStart });

  // Batches arrive one at a time (the main thread waits for each result), so runs never overlap.
  port.on('message', async (msg: ToInference) => {
    if (msg.type === 'stats') {
      post({ type: 'stats', liveTensors: engine.liveTensors() });
      return;
    }
    const started = performance.now();
    try {
      const view = views[msg.buffer];
      if (!view) throw new Error(`no batch buffer ${msg.buffer} (${views.length} shared)`);
      const out = await engine.run(view, msg.n);
      // A copy we own (n × classes floats, tiny): engine outputs may live in memory that cannot be transferred.
      const scores = out.slice();
      post({ type: 'result', batchId: msg.batchId, scores, ms: performance.now() - started }, [
        scores.buffer as ArrayBuffer,
      ]);
    } catch (err) {
      post({ type: 'failed', batchId: msg.batchId, message: (err as Error).message });
    }
  });
}

main().catch((err: Error) => post({ type: 'fatal', message: err.stack ?? err.message }));
