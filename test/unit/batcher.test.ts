/** The batcher's state machine with stand-in preprocessing and inference (pure logic; no threads, no Redis). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, type Completed, type Job } from '../../src/host/batcher.ts';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import type { PreprocessOutcome } from '../../workers/messages.ts';
import type { BatchScores } from '../../src/host/inference-client.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let seq = 0;
function job(deadlineIn = 10_000): Job {
  const id = `r${++seq}`;
  return { entryId: `${seq}-0`, env: { v: 1, id, image: new Uint8Array([1]), topk: 2, deadline: Date.now() + deadlineIn, replyTo: 'x' } };
}

function harness(opts: { maxBatch?: number; delay?: number; failIds?: string[] } = {}) {
  const buffers = new BatchBuffers({ maxBatch: opts.maxBatch ?? 4, slotElements: 1, count: 2 });
  const runs: Array<{ n: number; done: ReturnType<typeof deferred<BatchScores>> }> = [];
  const completed: Completed[] = [];
  const prepped: Array<ReturnType<typeof deferred<PreprocessOutcome>>> = [];
  let onRun: (() => void) | undefined;
  const batcher = new Batcher({
    buffers,
    labels: ['a', 'b'],
    maxBatchDelayMs: opts.delay ?? 0,
    preprocess: () => {
      const d = deferred<PreprocessOutcome>();
      prepped.push(d);
      return d.promise;
    },
    infer: (_buffer, n) => {
      const d = deferred<BatchScores>();
      runs.push({ n, done: d });
      onRun?.();
      return d.promise;
    },
    complete: async (done) => {
      completed.push(...done);
    },
    onError: () => {},
  });
  const scores = (n: number) => ({ scores: new Float32Array(Array.from({ length: n * 2 }, (_, i) => (i % 2 ? 0.9 : 0.1))), ms: 1 });
  const nextRun = () => new Promise<void>((r) => (onRun = r));
  return { batcher, buffers, runs, completed, prepped, scores, nextRun };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  it('runs a lone request at once when the inference thread is idle', async () => {
    const h = harness();
    h.batcher.add([job()]);
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await tick();
    assert.equal(h.runs.length, 1);
    assert.equal(h.runs[0]!.n, 1);
    h.runs[0]!.done.resolve(h.scores(1));
    await tick();
    assert.equal(h.completed.length, 1);
    const r = h.completed[0]!.result;
    assert.ok(r.ok && r.predictions[0]!.label === 'b' && r.predictions.length === 2);
  });

  it('fills the next batch while one runs, and runs it as one batch', async () => {
    const h = harness();
    h.batcher.add([job()]);
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await tick();
    assert.equal(h.runs.length, 1);
    h.batcher.add([job(), job(), job()]);
    for (const d of h.prepped.slice(1)) d.resolve({ ok: true, ms: 1 });
    await tick();
    assert.equal(h.runs.length, 1, 'no second run while the first is busy');
    h.runs[0]!.done.resolve(h.scores(1));
    await tick();
    await tick();
    assert.equal(h.runs.length, 2);
    assert.equal(h.runs[1]!.n, 3);
  });

  it('closes a full batch and limits capacity to free slots and buffers', async () => {
    const h = harness({ maxBatch: 2 });
    assert.equal(h.batcher.capacity(), 2);
    h.batcher.add([job(), job()]);
    assert.equal(h.batcher.capacity(), 2, 'second buffer free');
    h.batcher.add([job(), job()]);
    assert.equal(h.batcher.capacity(), 0, 'both buffers taken');
    let released = false;
    void h.batcher.whenCapacity().then(() => (released = true));
    for (const d of h.prepped) d.resolve({ ok: true, ms: 1 });
    await tick();
    h.runs[0]!.done.resolve(h.scores(2));
    await tick();
    await tick();
    assert.ok(released, 'capacity returns when a batch finishes');
  });

  it('waits up to MAX_BATCH_DELAY_MS for more requests when idle', async () => {
    const h = harness({ delay: 40 });
    h.batcher.add([job()]);
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await tick();
    assert.equal(h.runs.length, 0);
    h.batcher.add([job()]);
    h.prepped[1]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[0]!.n, 2);
  });

  it('answers expired requests 504 without inference, and a failed decode fails alone', async () => {
    const h = harness();
    h.batcher.add([job(-1)]);
    await tick();
    assert.equal(h.completed.length, 1);
    assert.ok(!h.completed[0]!.result.ok && h.completed[0]!.result.code === 'DEADLINE_EXCEEDED');
    h.batcher.add([job(), job()]);
    h.prepped[0]!.resolve({ ok: false, code: 'INVALID_IMAGE', message: 'bad', detail: 'x' });
    h.prepped[1]!.resolve({ ok: true, ms: 1 });
    await tick();
    assert.equal(h.runs.length, 1);
    assert.equal(h.runs[0]!.n, 2, 'the failed slot stays a hole in the batch');
    h.runs[0]!.done.resolve(h.scores(2));
    await tick();
    const codes = h.completed.map((c) => (c.result.ok ? 'ok' : c.result.code)).sort();
    assert.deepEqual(codes, ['DEADLINE_EXCEEDED', 'INVALID_IMAGE', 'ok']);
  });

  it('drain() resolves only after running batches are published', async () => {
    const h = harness();
    h.batcher.add([job()]);
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await tick();
    let drained = false;
    const d = h.batcher.drain().then(() => (drained = true));
    await tick();
    assert.equal(drained, false);
    h.runs[0]!.done.resolve(h.scores(1));
    await d;
    assert.equal(h.completed.length, 1);
    assert.equal(h.batcher.inFlight, 0);
  });

  it('stops taking requests after the delay while its images still decode, when the engine has nothing to do', async () => {
    const h = harness({ delay: 10 });
    h.batcher.add([job()]);
    await new Promise((r) => setTimeout(r, 20)); // delay passed, image 1 still decoding: the batch closes
    h.batcher.add([job()]); // goes to the next buffer instead of holding the first batch back
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[0]!.n, 1);
    h.prepped[1]!.resolve({ ok: true, ms: 1 });
    h.runs[0]!.done.resolve(h.scores(1));
    await h.nextRun();
    assert.equal(h.runs[1]!.n, 1);
  });
});
