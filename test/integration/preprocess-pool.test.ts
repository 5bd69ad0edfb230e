/**
 * The real preprocessing pool (piscina + sharp) abandons a decode at its deadline or its decode bound: the task
 * is answered at once, its thread comes back (other images keep decoding on a one-thread pool), the abandoned
 * decode never writes into its slot, and a slow decode leaves its place to other images on a spare thread.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { imageElements, readMetadata, type ModelMetadata } from '../../src/model/metadata.ts';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import { PreprocessPool } from '../../src/host/preprocess-pool.ts';
import { manyScanJpeg } from '../helpers/slow-images.ts';
import { EXAMPLES } from '../../scripts/lib/in-process-service.ts';
import { waitUntil } from '../helpers/processes.ts';

const SENTINEL = -12345;
/** The pool takes its input over (moved to the worker): each run gets its own copy of the test's image. */
const own = (image: Uint8Array) => new Uint8Array(image);

describe('PreprocessPool abandons slow decodes', () => {
  let meta: ModelMetadata;
  let buffers: BatchBuffers;
  let pool: PreprocessPool;
  let photo: Buffer;
  // 6000 scans of 2000×2000: about 2 s of decoding (the attack's 6000×6000 takes 20 s or more).
  const slow = manyScanJpeg({ width: 2000, height: 2000, scans: 6000 });

  before(async () => {
    meta = await readMetadata(resolve('models/default'));
    buffers = new BatchBuffers({ maxBatch: 4, slotElements: imageElements(meta), count: 2 });
    // One thread, no spare: a photo can only decode if the slow image's thread really comes back.
    pool = new PreprocessPool(
      { threads: 1, stragglerThreads: 0, stragglerMs: 100, slotsPerBuffer: 4, decodeTimeoutMs: 500 },
      workerData(),
    );
    photo = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(() => pool?.close());

  const workerData = () => ({
    buffers: buffers.buffers,
    input: meta.input,
    preprocessing: meta.preprocessing,
    // The scan limit would refuse the slow JPEG before decoding; raised here so the decode runs and is abandoned.
    settings: { maxInputPixels: 40_000_000, maxJpegScans: 1_000_000, jpegDctScaling: false },
  });

  const slotView = (buffer: number, slot: number) =>
    new Float32Array(buffers.buffers[buffer]!, slot * imageElements(meta) * 4, imageElements(meta));

  it('answers IMAGE_TOO_COMPLEX at DECODE_TIMEOUT_MS, gets its thread back, and never writes the slot', async () => {
    slotView(0, 1).fill(SENTINEL);
    const outcome = await pool.run({ image: own(slow), buffer: 0, slot: 1, deadline: Date.now() + 60_000 });
    assert.ok(!outcome.ok && outcome.code === 'IMAGE_TOO_COMPLEX', JSON.stringify(outcome));
    assert.equal(pool.abandoned, 1, 'answered by the pool, before the decoder returned');
    // The only thread decodes the photo once the native decode has returned (it cannot be interrupted).
    const good = await pool.run({ image: own(photo), buffer: 0, slot: 2, deadline: Date.now() + 60_000 });
    assert.ok(good.ok, JSON.stringify(good));
    assert.ok(
      slotView(0, 2).some((v) => v !== 0),
      'the photo was written into its slot',
    );
    assert.ok(
      slotView(0, 1).every((v) => v === SENTINEL),
      'the abandoned decode wrote nothing into its slot',
    );
  });

  it('a decode slower than STRAGGLER_WAIT_MS leaves its place to the next image, on a spare thread', async () => {
    const spare = new PreprocessPool(
      { threads: 1, stragglerThreads: 1, stragglerMs: 100, slotsPerBuffer: 4, decodeTimeoutMs: 1000 },
      workerData(),
    );
    try {
      let slowDone = false;
      const slowRun = spare
        .run({ image: own(slow), buffer: 1, slot: 3, deadline: Date.now() + 60_000 })
        .finally(() => (slowDone = true));
      // run() hands the slow image the only regular thread at once; the photo waits for a thread of its own.
      const good = await spare.run({ image: own(photo), buffer: 1, slot: 2, deadline: Date.now() + 60_000 });
      assert.ok(good.ok, JSON.stringify(good));
      assert.equal(slowDone, false, 'the photo did not wait for the slow image');
      const outcome = await slowRun;
      assert.ok(!outcome.ok && outcome.code === 'IMAGE_TOO_COMPLEX', JSON.stringify(outcome));
    } finally {
      await spare.close();
    }
  });

  it('answers DEADLINE_EXCEEDED at the request deadline, even while the task still waits for a thread', async () => {
    const deadline = Date.now() + 300;
    const [first, queued] = await Promise.all([
      pool.run({ image: own(slow), buffer: 1, slot: 0, deadline }),
      pool.run({ image: own(photo), buffer: 1, slot: 1, deadline }),
    ]);
    assert.ok(!first.ok && first.code === 'DEADLINE_EXCEEDED', JSON.stringify(first));
    assert.ok(!queued.ok && queued.code === 'DEADLINE_EXCEEDED', JSON.stringify(queued));
    const good = await pool.run({ image: own(photo), buffer: 1, slot: 2, deadline: Date.now() + 60_000 });
    assert.ok(good.ok, JSON.stringify(good));
  });
});

describe('PreprocessPool threads that cannot start (issue 20)', () => {
  it("started() rejects with the reason and the pool's 'error' reaches onError, not the process", async () => {
    const meta = await readMetadata(resolve('models/default'));
    const buffers = new BatchBuffers({ maxBatch: 2, slotElements: imageElements(meta), count: 1 });
    const errors: Error[] = [];
    // No `input`: the worker module throws while loading, as any thread that cannot start does.
    const pool = new PreprocessPool(
      { threads: 2, slotsPerBuffer: 2, decodeTimeoutMs: 500, onError: (err) => errors.push(err) },
      {
        buffers: buffers.buffers,
        input: undefined as unknown as ModelMetadata['input'],
        preprocessing: meta.preprocessing,
        settings: { maxInputPixels: 40_000_000, maxJpegScans: 100, jpegDctScaling: false },
      },
    );
    try {
      await assert.rejects(pool.started(), (err: Error) => /width|undefined/.test(err.message));
      // The other thread fails too, outside any task: piscina's 'error' event, handled.
      await waitUntil(() => errors.length > 0, 10_000, "the other thread's error");
      assert.match(errors[0]!.message, /width|undefined/);
    } finally {
      await pool.close();
    }
  });
});
