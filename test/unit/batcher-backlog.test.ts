/**
 * The batcher must take every job the consumer read, even if more arrive than it has room for (its capacity can
 * change while a blocking read is under way): the surplus waits in a backlog for a buffer, never dropped.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, type Completed, type Job } from '../../src/host/batcher.ts';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import type { PreprocessOutcome } from '../../src/wire/worker-messages.ts';

it('jobs beyond capacity wait in a backlog for a buffer instead of being dropped', async () => {
  const buffers = new BatchBuffers({ maxBatch: 2, slotElements: 1, count: 2 });
  const preps: Array<() => void> = [];
  const completed: Completed[] = [];
  const batcher = new Batcher({
    buffers,
    labels: ['a', 'b'],
    maxBatchDelayMs: 0,
    stragglerWaitMs: 10_000,
    preprocess: () => new Promise<PreprocessOutcome>((resolve) => preps.push(() => resolve({ ok: true, ms: 1 }))),
    infer: async (_b, n) => ({ scores: new Float32Array(n * 2).fill(0.5), ms: 1 }),
    complete: async (done) => {
      completed.push(...done);
    },
    onError: (err) => {
      throw err;
    },
  });
  const job = (i: number): Job => ({
    entryId: `${i}-0`,
    env: { id: `r${i}`, image: new Uint8Array(1), topk: 1, deadline: Date.now() + 60_000, replyTo: 'x' },
  });
  batcher.add([job(1), job(2)]); // batch A full: closed, preprocessing
  batcher.add([job(3)]); // batch B filling
  assert.equal(batcher.capacity(), 1);
  batcher.add([job(4), job(5), job(6)]); // more than there is room for: must not throw, must not drop
  assert.equal(batcher.capacity(), 0);
  assert.equal(batcher.inFlight, 6);
  for (let i = 0; i < 50 && completed.length < 6; i++) {
    for (const p of preps.splice(0)) p();
    await new Promise((r) => setTimeout(r, 5));
  }
  await batcher.drain();
  assert.deepEqual(completed.map((c) => c.result.id).sort(), ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  assert.ok(completed.every((c) => c.result.ok));
  assert.equal(batcher.inFlight, 0);
});
