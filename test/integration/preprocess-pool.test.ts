/**
 * The real preprocessing pool (piscina + sharp) abandons a decode at its deadline or its decode bound: the task
 * is answered at once, its worker thread is replaced (other images keep decoding on a one-thread pool), and the
 * abandoned decode never writes into its slot.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { imageElements, readMetadata, type ModelMetadata } from '../../src/model/metadata.ts';
import { BatchBuffers } from '../../src/host/batch-buffers.ts';
import { PreprocessPool } from '../../src/host/preprocess-pool.ts';
import { manyScanJpeg } from '../helpers/slow-images.ts';
import { EXAMPLES } from '../helpers/service.ts';

const SENTINEL = -12345;

describe('PreprocessPool abandons slow decodes', () => {
  let meta: ModelMetadata;
  let buffers: BatchBuffers;
  let pool: PreprocessPool;
  let photo: Buffer;
  const slow = manyScanJpeg(); // 6000 scans of 6000×6000: many seconds of decoding, within MAX_INPUT_PIXELS

  before(async () => {
    meta = await readMetadata(resolve('models/default'));
    buffers = new BatchBuffers({ maxBatch: 4, slotElements: imageElements(meta), count: 2 });
    // One thread: a photo can only decode if the slow image's thread was really given back.
    pool = new PreprocessPool({ threads: 1, slotsPerBuffer: 4, decodeTimeoutMs: 800 }, {
      buffers: buffers.buffers, input: meta.input, preprocessing: meta.preprocessing,
      // The scan limit would refuse the slow JPEG before decoding; raised here so the decode runs and is abandoned.
      settings: { maxInputPixels: 40_000_000, maxJpegScans: 1_000_000, jpegDctScaling: false },
    });
    photo = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(() => pool?.close());

  const slotView = (buffer: number, slot: number) =>
    new Float32Array(buffers.buffers[buffer]!, slot * imageElements(meta) * 4, imageElements(meta));

  it('answers IMAGE_TOO_COMPLEX at DECODE_TIMEOUT_MS, frees the thread, and never writes the slot', async () => {
    slotView(0, 1).fill(SENTINEL);
    const started = Date.now();
    const outcome = await pool.run({ image: slow, buffer: 0, slot: 1, deadline: Date.now() + 60_000 });
    const tookMs = Date.now() - started;
    assert.ok(!outcome.ok && outcome.code === 'IMAGE_TOO_COMPLEX', JSON.stringify(outcome));
    assert.ok(tookMs < 5000, `abandoned after ${tookMs} ms, well before the ~7 s decode would end`);
    assert.equal(pool.abandoned, 1);
    const good = await pool.run({ image: photo, buffer: 0, slot: 2, deadline: Date.now() + 60_000 });
    assert.ok(good.ok, JSON.stringify(good));
    assert.ok(slotView(0, 2).some((v) => v !== 0), 'the photo was written into its slot');
    // Longer than the abandoned decode's native work can last (libvips stops it at its own timeout, 1 s).
    await new Promise((r) => setTimeout(r, 4000));
    assert.ok(slotView(0, 1).every((v) => v === SENTINEL), 'the abandoned decode wrote nothing into its slot');
  });

  it('answers DEADLINE_EXCEEDED at the request deadline, even while the task still waits for a thread', async () => {
    const deadline = Date.now() + 300;
    const [first, queued] = await Promise.all([
      pool.run({ image: slow, buffer: 1, slot: 0, deadline }),
      pool.run({ image: photo, buffer: 1, slot: 1, deadline }),
    ]);
    assert.ok(!first.ok && first.code === 'DEADLINE_EXCEEDED', JSON.stringify(first));
    assert.ok(!queued.ok && queued.code === 'DEADLINE_EXCEEDED', JSON.stringify(queued));
    const good = await pool.run({ image: photo, buffer: 1, slot: 2, deadline: Date.now() + 60_000 });
    assert.ok(good.ok, JSON.stringify(good));
  });
});
