/** The batcher's state machine with stand-in preprocessing and inference (pure logic; no threads, no Redis). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, type Completed, type Job } from '../../src/host/batcher.ts';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import type { PreprocessOutcome } from '../../src/wire/worker-messages.ts';
import type { BatchScores } from '../../src/host/inference-client.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let seq = 0;
function job(deadlineIn = 10_000): Job {
  const id = `r${++seq}`;
  return {
    entryId: `${seq}-0`,
    env: { id, image: new Uint8Array([1]), topk: 2, deadline: Date.now() + deadlineIn, replyTo: 'x' },
  };
}

function harness(opts: { maxBatch?: number; delay?: number; straggler?: number; buffers?: number } = {}) {
  const buffers = new BatchBuffers({ maxBatch: opts.maxBatch ?? 4, slotElements: 1, count: opts.buffers ?? 2 });
  const runs: Array<{ n: number; buffer: number; done: ReturnType<typeof deferred<BatchScores>> }> = [];
  const completed: Completed[] = [];
  const prepped: Array<ReturnType<typeof deferred<PreprocessOutcome>>> = [];
  let onRun: (() => void) | undefined;
  const batcher = new Batcher({
    buffers,
    labels: ['a', 'b'],
    maxBatchDelayMs: opts.delay ?? 0,
    // Long by default, so that only the tests about stragglers see a batch run without one.
    stragglerWaitMs: opts.straggler ?? 60_000,
    preprocess: () => {
      const d = deferred<PreprocessOutcome>();
      prepped.push(d);
      return d.promise;
    },
    infer: (buffer, n) => {
      const d = deferred<BatchScores>();
      runs.push({ n, buffer, done: d });
      onRun?.();
      return d.promise;
    },
    complete: async (done) => {
      completed.push(...done);
    },
    onError: () => {},
  });
  const scores = (n: number) => ({
    scores: new Float32Array(Array.from({ length: n * 2 }, (_, i) => (i % 2 ? 0.9 : 0.1))),
    ms: 1,
  });
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

  it('stops taking requests after the delay while its images still decode, when the engine has nothing to do', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() });
    const h = harness({ delay: 10 });
    h.batcher.add([job()]);
    t.mock.timers.tick(20); // delay passed, image 1 still decoding: the batch closes
    h.batcher.add([job()]); // goes to the next buffer instead of holding the first batch back
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[0]!.n, 1);
    h.prepped[1]!.resolve({ ok: true, ms: 1 });
    const second = h.nextRun();
    h.runs[0]!.done.resolve(h.scores(1));
    await tick(); // the engine is idle again: the second batch waits out its own delay
    t.mock.timers.tick(10);
    await second;
    assert.equal(h.runs[1]!.n, 1);
  });
  it('a later batch whose images are decoded runs before an earlier one still decoding', async () => {
    const h = harness({ maxBatch: 2, buffers: 3 });
    h.batcher.add([job(), job()]); // batch A (full, closed): image 0 is slow
    h.batcher.add([job(), job()]); // batch B (full, closed)
    h.prepped[1]!.resolve({ ok: true, ms: 1 });
    h.prepped[2]!.resolve({ ok: true, ms: 1 });
    h.prepped[3]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[0]!.buffer, 1, 'batch B runs; it does not queue behind batch A');
    h.runs[0]!.done.resolve(h.scores(2));
    await tick();
    assert.equal(h.completed.length, 2);
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[1]!.buffer, 0);
    h.runs[1]!.done.resolve(h.scores(2));
    await tick();
    assert.equal(h.completed.length, 4);
  });

  it('runs the decoded images of a batch after STRAGGLER_WAIT_MS, and the straggler later from the same buffer', async () => {
    const h = harness({ maxBatch: 3, straggler: 30 });
    const jobs = [job(), job(), job()];
    h.batcher.add(jobs); // full: closed
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    h.prepped[2]!.resolve({ ok: true, ms: 1 });
    await tick();
    assert.equal(h.runs.length, 0, 'waits a little for its last image');
    await h.nextRun();
    assert.equal(h.runs[0]!.n, 3, 'rows 0 and 2 are decoded; row 1 is a hole');
    h.runs[0]!.done.resolve(h.scores(3));
    await tick();
    assert.deepEqual(h.completed.map((c) => c.result.id).sort(), [jobs[0]!.env.id, jobs[2]!.env.id].sort());
    assert.equal(h.buffers.freeCount, 1, 'the straggler still owns its buffer');
    assert.equal(h.batcher.inFlight, 1);
    h.prepped[1]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[1]!.buffer, h.runs[0]!.buffer);
    assert.equal(h.runs[1]!.n, 2, 'rows after the last decoded one are not computed');
    h.runs[1]!.done.resolve(h.scores(2));
    await tick();
    assert.equal(h.completed.length, 3);
    assert.ok(h.completed.every((c) => c.result.ok));
    assert.equal(h.buffers.freeCount, 2, 'buffer freed once its last image is done');
  });

  it('keeps closing batches by the delay while another batch waits only for a straggler', async () => {
    const h = harness({ maxBatch: 2, delay: 5, straggler: 10, buffers: 3 });
    h.batcher.add([job(), job()]); // batch A: image 0 decodes, image 1 is slow
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await h.nextRun(); // A's decoded image runs after the straggler wait
    h.runs[0]!.done.resolve(h.scores(1));
    await tick();
    h.batcher.add([job()]); // batch B: one request, engine idle, A holds only its straggler
    h.prepped[2]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[1]!.n, 1, 'B closed by its delay and ran without waiting for A');
    h.runs[1]!.done.resolve(h.scores(1));
    await tick();
    // The pool answers an abandoned decode only once it can no longer write into the slot: then A frees its buffer.
    h.prepped[1]!.resolve({ ok: false, code: 'IMAGE_TOO_COMPLEX', message: 'slow', detail: 'abandoned' });
    await tick();
    await tick();
    assert.equal(h.buffers.freeCount, 3);
    const codes = h.completed.map((c) => (c.result.ok ? 'ok' : c.result.code)).sort();
    assert.deepEqual(codes, ['IMAGE_TOO_COMPLEX', 'ok', 'ok']);
    assert.equal(h.runs.length, 2, 'no inference for a batch left with nothing decoded');
  });
  it('a straggler that finishes decoding while its batch runs is inferred in a later pass, not given those scores', async () => {
    const h = harness({ maxBatch: 2, straggler: 10 });
    h.batcher.add([job(), job()]);
    h.prepped[0]!.resolve({ ok: true, ms: 1 });
    await h.nextRun();
    assert.equal(h.runs[0]!.n, 1, 'row 1 was still decoding when the run began');
    h.prepped[1]!.resolve({ ok: true, ms: 1 }); // ready during the run
    await tick();
    h.runs[0]!.done.resolve(h.scores(1));
    await h.nextRun();
    assert.equal(h.completed.length, 1);
    assert.equal(h.runs[1]!.n, 2);
    assert.equal(h.buffers.freeCount, 1, 'the buffer stays taken until its last image is answered');
    h.runs[1]!.done.resolve(h.scores(2));
    await tick();
    assert.equal(h.completed.length, 2);
    assert.equal(h.buffers.freeCount, 2);
    assert.equal(h.batcher.inFlight, 0);
  });
});
