/**
 * node --import tsx bench/tune-buffers.ts — how many batch buffers (and which MAX_BATCH) keep decode and
 * inference overlapped. All systems run at once and are driven in turn (closed loop, C in flight, 3 rounds),
 * so the machine's noise hits each alike; prints each system's median req/s. C=32 by default.
 */
import { exampleImages, multipartBody } from './lib/images.ts';
import { closedLoop, LoadClient } from './lib/loadgen.ts';
import { startNaive, startService, type Running } from './lib/systems.ts';

const photos = exampleImages().map(multipartBody);
const C = Number(process.env.C ?? 32);
const variants: Array<[string, () => Promise<Running>]> = [
  ['naive-onnx-cluster', () => startNaive('naive-onnx-cluster', 'onnx', 2)],
  ['service BATCH_BUFFERS=2', () => startService('buf2', { BATCH_BUFFERS: '2' })],
  ['service BATCH_BUFFERS=3', () => startService('buf3', { BATCH_BUFFERS: '3' })],
  ['service BATCH_BUFFERS=4 MAX_BATCH=4', () => startService('buf4-b4', { BATCH_BUFFERS: '4', MAX_BATCH: '4' })],
  [
    'service BATCH_BUFFERS=3 PREPROCESS_THREADS=1',
    () => startService('buf3-pool1', { PREPROCESS_THREADS: '1', BATCH_BUFFERS: '3' }),
  ],
];

const running: Array<[string, Running]> = [];
try {
  for (const [name, start] of variants) running.push([name, await start()]);
  const results: Record<string, number[]> = {};
  for (let round = 0; round < 3; round++) {
    for (const [name, r] of running) {
      const client = new LoadClient(r.url, photos, 128);
      const p = await closedLoop(client, C, 4000, 60);
      await client.close();
      (results[name] ??= []).push(Math.round(p.throughput * 10) / 10);
      console.log(`round ${round} ${name}: ${p.throughput.toFixed(1)} req/s, p99 ${p.latencyMs.p99.toFixed(0)} ms`);
    }
  }
  for (const [name, v] of Object.entries(results)) {
    console.log(`${name}: ${v.join(', ')} req/s; median ${[...v].sort((a, b) => a - b)[1]}`);
  }
} finally {
  for (const [, r] of running) await r.stop();
}
